"""The records database: one engine, read and write transactions, and the thread coroutines hand writes to.

Coroutines never run SQL on the event loop. A write (`run`, or `post` when nobody waits for it) goes to this
process's writer thread, which runs one op at a time, each in a transaction of its own, in the order the
calls were made. Reads (`query`) run in threads of their own and never queue behind writes. On SQLite a write
transaction begins IMMEDIATE, so writers queue on the database lock instead of failing on a lock upgrade;
this process's writers take turns on an in-process lock first; reads never wait (WAL).

A database that is briefly away (a restart, a failover, a full disk being freed) is waited out: an op the
database refused for such a reason is tried again for up to `OUTAGE_SECONDS`, with one log line when the
outage starts and one when it ends; only then does the op fail with RecordsUnavailable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from studio.errors import StudioError
from studio.records.failures import RecordsUnavailable, checked_url, described, translated
from studio.storage.private_files import private_dir, private_file

log = logging.getLogger("studio.records")

T = TypeVar("T")
Op = Callable[[Session], T]
"""A unit of database work, run in a transaction of its own. It may run again when the database was away
(its transaction rolled back), so it only touches the session: no side effects outside the database."""


_AFTER_COMMIT = "studio.after_commit"


def after_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run `hook` once the transaction of `session` has committed (never when it failed and is tried again:
    each try is a new session). Hooks run in the order they were added, transaction after transaction."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


def together(*ops: Op[Any]) -> Op[Any]:
    """One op running `ops` in order in its transaction (a change and the event that reports it); the
    first op's result."""

    def op(session: Session) -> Any:
        results = [each(session) for each in ops]
        return results[0]

    return op


CONNECT_TIMEOUT_SECONDS = 10
"""How long connecting to PostgreSQL may take before the server counts as unreachable."""
OUTAGE_SECONDS = 30.0
"""How long ops wait for a database that is away before they fail."""
RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)
READERS = 4


def sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """An engine for a supported URL; RecordsUnavailable names what is wrong with any other."""
    parsed = checked_url(url)
    path = sqlite_path(url)
    if path is None:
        timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=timeout)
    _usable_folder(url, path)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _unusable(url: str, path: Path, problem: object) -> RecordsUnavailable:
    return RecordsUnavailable(
        f"{described(url)} cannot be opened: {problem}",
        f"make {path.parent} a folder this user may write, or set STUDIO_DATA_DIR to one",
    )


def _usable_folder(url: str, path: Path) -> None:
    """The SQLite file's folder exists (made private when missing) and the file is not a folder."""
    try:
        private_dir(path.parent)
    except StudioError as error:
        raise _unusable(url, path, error) from error
    if path.is_dir():
        raise _unusable(url, path, f"{path} is a folder")


@contextmanager
def first_use_lock(url: str) -> Iterator[None]:
    """Processes opening one SQLite file for the first time take turns (creation, WAL switch, migration)."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    _usable_folder(url, path)
    try:
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise _unusable(url, path, f"{path}.lock: {error.strerror or error}") from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            private_file(path)  # SQLite gives its WAL and shared-memory files the same mode
        except (StudioError, OSError) as error:
            raise _unusable(url, path, error) from error
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class Outage:
    """Whether the database is away, since when, and the one log line at each end of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: float | None = None
        self._lock = threading.Lock()

    def waiting(self, error: RecordsUnavailable) -> bool:
        """The database refused for a passing reason: whether to try the op again (the outage is young)."""
        if not error.passing:
            return False
        with self._lock:
            now = time.monotonic()
            if self._since is None:
                self._since = now
                log.warning("%s; waiting up to %g s for it to come back", error.what, self.seconds)
            return now - self._since < self.seconds

    def over(self) -> None:
        with self._lock:
            if self._since is not None:
                log.warning("the records database is back after %.1f s", time.monotonic() - self._since)
                self._since = None

    def attempts(self) -> Iterator[float]:
        """Pauses between tries: growing, then steady."""
        yield from RETRY_SECONDS
        while True:
            yield RETRY_SECONDS[-1]


class Database:
    """Sessions on one engine, the writer thread and the readers (`close` stops them)."""

    def __init__(self, url: str, *, outage_seconds: float = OUTAGE_SECONDS) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        writes = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write_sessions = sessionmaker(writes, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_turn: AbstractContextManager[Any] = (
            threading.Lock() if self.dialect == "sqlite" else nullcontext()
        )
        self.outage = Outage(outage_seconds)
        self._writer: _Writer | None = None
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction in the calling thread (pages, the CLI); coroutines use `run`.

        The database failing (unreachable, damaged, ...) raises RecordsUnavailable, here as in `read`.
        """
        with translated(self.url), self._write_turn, self._write_sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read-only transaction in the calling thread."""
        with translated(self.url), self._read_sessions.begin() as session:
            yield session

    def written(self, op: Op[T]) -> T:
        """`op` in a write transaction of its own, in the calling thread, waiting out a brief outage."""
        return self._patiently(op, self.write)

    def read_now(self, op: Op[T]) -> T:
        """`op` in a read transaction of its own, in the calling thread, waiting out a brief outage."""
        return self._patiently(op, self.read)

    def _patiently(self, op: Op[T], transaction: Callable[[], AbstractContextManager[Session]]) -> T:
        pauses = self.outage.attempts()
        while True:
            try:
                with transaction() as session:
                    result = op(session)
                    hooks = session.info.pop(_AFTER_COMMIT, [])
            except RecordsUnavailable as error:
                if not self.outage.waiting(error):
                    raise
                time.sleep(next(pauses))
                continue
            self.outage.over()
            for hook in hooks:
                hook()
            return result

    async def run(self, op: Op[T]) -> T:
        """Run the write `op` on the writer thread, after every write queued before it, without blocking the
        event loop; its result once committed."""
        return await asyncio.wrap_future(self.submit(op))

    def submit(self, op: Op[T]) -> concurrent.futures.Future[T]:
        """Queue the write `op` (after everything queued before it); the future holds its result."""
        return self._writer_thread().submit(op)

    async def run_beside(self, op: Op[T]) -> T:
        """Run the write `op` in a thread of its own, beside the queue: for a write in no order with the
        others (a provider's shared pace), which must not wait behind a job's queued writes."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool(), self.written, op)

    def post(self, op: Op[Any]) -> concurrent.futures.Future[Any]:
        """Queue the write `op` without waiting for it; a failure is logged (in words when the database
        failed, with its traceback when it is a bug)."""
        future = self.submit(op)
        future.add_done_callback(_log_failure)
        return future

    async def query(self, op: Op[T]) -> T:
        """Run the read `op` in a reader thread: it does not wait for queued writes (await those first when
        it must see them)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool(), self.read_now, op)

    def flush(self, timeout: float = 60) -> None:
        """Wait until every write queued so far is committed."""
        if self._writer is not None:
            self.submit(lambda _s: None).result(timeout)

    def _writer_thread(self) -> _Writer:
        writer = self._writer
        if writer is None or not writer.is_alive():
            with self._lock:
                if self._writer is None or not self._writer.is_alive():
                    self._writer = _Writer(self)
                    self._writer.start()
                writer = self._writer
        return writer

    def _reader_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._readers is None:
                self._readers = concurrent.futures.ThreadPoolExecutor(READERS, "studio-records-read")
            return self._readers

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            readers, self._readers = self._readers, None
        if writer is not None:
            writer.stop()
        if readers is not None:
            readers.shutdown(wait=True)
        self.engine.dispose()


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if future.cancelled() or (error := future.exception()) is None:
        return
    if isinstance(error, RecordsUnavailable):  # the database failing in words, a bug with its traceback
        log.error("a queued database write failed: %s", error)
    else:
        log.error("a queued database write failed", exc_info=error)


class _Writer(threading.Thread):
    """Runs queued write ops one at a time, each in a transaction of its own, in the order they came."""

    _STOP = object()

    def __init__(self, database: Database) -> None:
        super().__init__(name="studio-records", daemon=True)
        self.database = database
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def submit(self, op: Op[T]) -> concurrent.futures.Future[T]:
        if threading.current_thread() is self:
            raise RuntimeError("a database op must not queue another op: it would wait for itself")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((op, future))
        return future

    def stop(self, timeout: float = 60) -> None:
        self._queue.put(self._STOP)
        self.join(timeout)

    def run(self) -> None:
        while (item := self._queue.get()) is not self._STOP:
            op, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self.database.written(op)
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)
