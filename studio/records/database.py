"""The records database: one engine, read and write transactions, and the thread coroutines hand SQL to.

Coroutines never run SQL on the event loop: they give a function of a session to this process's database
thread (`run` / `submit`), which runs everything that has queued up in one transaction (group commit) and
answers each caller. On SQLite a write transaction begins IMMEDIATE, so writers queue on the database lock
instead of failing on a lock upgrade, and this process's writers take turns on an in-process lock first;
reads begin DEFERRED and never wait (WAL).
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
from collections.abc import Callable, Iterator, Sequence
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
"""A unit of database work. It may run twice (its batch failed and is replayed alone), so it only touches
the session: no side effects outside the database."""

CONNECT_TIMEOUT_SECONDS = 10
"""How long connecting to PostgreSQL may take before the server counts as unreachable."""
MAX_BATCH = 512
COALESCE_SECONDS = 0.025
"""How long work nobody waits for may gather before it is written (an awaited op ends the wait)."""


class BatchedOp:
    """An op that runs together with the other ops of its `kind` in a batch: one statement for many rows
    (a round of images finishing together is one insert of events, one of charges...).

    Grouping moves an op ahead of ops of other kinds queued before it, so it never moves past an op that is
    not batched, nor past one of another kind that touches one of its rows (a reference's "generating" and
    then "stored" must stay in that order): there it starts a new group of its kind instead.
    """

    kind: str = ""
    touches: frozenset[object] = frozenset()
    """The rows it changes that ops of other kinds change too (empty: its kind's rows alone)."""

    def __call__(self, session: Session) -> Any:
        return type(self).run_all(session, [self])[0]

    @classmethod
    def run_all(cls, session: Session, ops: list[Any]) -> list[Any]:
        raise NotImplementedError


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


class Database:
    """Sessions on one engine, and the database thread (started on first use, stopped by `close`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        writes = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._write_sessions = sessionmaker(writes, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_turn: AbstractContextManager[Any] = (
            threading.Lock() if self.dialect == "sqlite" else nullcontext()
        )
        self._thread: _DatabaseThread | None = None
        self._thread_lock = threading.Lock()

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

    def submit(self, op: Op[T], *, urgent: bool = True) -> concurrent.futures.Future[T]:
        """Queue `op` for the database thread; the future holds its result once its batch committed."""
        return self._database_thread().submit(op, urgent)

    def post(self, op: Op[Any]) -> concurrent.futures.Future[Any]:
        """Queue `op` without waiting for it (ordered before anything queued later); a failure is logged.

        Nobody waits for it, so the thread may let a few milliseconds of work gather first: a round of
        calls ending together is then one batch, written after the next calls went out.
        """
        future = self.submit(op, urgent=False)
        future.add_done_callback(_log_failure)
        return future

    async def run(self, op: Op[T], *, urgent: bool = True) -> T:
        """Run `op` on the database thread without blocking the event loop; a result nobody is waiting
        on to go on (`urgent=False`) may gather with other work first, as a `post` does."""
        return await asyncio.wrap_future(self.submit(op, urgent=urgent))

    def flush(self, timeout: float = 30) -> None:
        """Wait until everything queued so far is committed (before reading it back from another session)."""
        if self._thread is not None:
            self.submit(lambda _s: None).result(timeout)

    def _database_thread(self) -> _DatabaseThread:
        thread = self._thread
        if thread is None or not thread.is_alive():
            with self._thread_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = _DatabaseThread(self)
                    self._thread.start()
                thread = self._thread
        return thread

    def close(self) -> None:
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()
        self.engine.dispose()


def _groups(ops: Sequence[Op[Any]]) -> list[list[int]]:
    """The ops' indexes in the groups they run in, in order: a batched op joins the open group of its kind
    unless an op queued since that group began names one of its rows; an op that is not batched runs alone
    and closes every open group."""
    groups: list[list[int]] = []
    open_groups: dict[object, tuple[list[int], set[object]]] = {}
    for index, op in enumerate(ops):
        if not isinstance(op, BatchedOp):
            groups.append([index])
            open_groups.clear()
            continue
        kind = (type(op), op.kind)
        found = open_groups.get(kind)
        if found is None or not found[1].isdisjoint(op.touches):
            group: list[int] = [index]
            groups.append(group)
            open_groups[kind] = (group, set())
        else:
            found[0].append(index)
        for other, (_, touched) in open_groups.items():
            if other != kind:
                touched.update(op.touches)
    return groups


def _run_grouped(session: Session, ops: list[Op[Any]]) -> list[Any]:
    """Each op's result, batched ops of one kind run together where that keeps every row's order."""
    results: list[Any] = [None] * len(ops)
    for indexes in _groups(ops):
        first = ops[indexes[0]]
        if not isinstance(first, BatchedOp):
            results[indexes[0]] = first(session)
            continue
        outcomes = type(first).run_all(session, [ops[i] for i in indexes])
        for index, outcome in zip(indexes, outcomes, strict=True):
            results[index] = outcome
    return results


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if future.cancelled() or (error := future.exception()) is None:
        return
    if isinstance(
        error, RecordsUnavailable
    ):  # the database failing is said in words, a bug with its traceback
        log.error("a queued database write failed: %s", error)
    else:
        log.error("a queued database write failed", exc_info=error)


class _DatabaseThread(threading.Thread):
    """Runs queued ops in batches: everything waiting goes into one transaction, committed once."""

    _STOP = object()

    def __init__(self, database: Database) -> None:
        super().__init__(name="studio-records", daemon=True)
        self.database = database
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def submit(self, op: Op[T], urgent: bool) -> concurrent.futures.Future[T]:
        if threading.current_thread() is self:
            raise RuntimeError("a database op must not queue another op: it would wait for itself")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((op, future, urgent))
        return future

    def stop(self, timeout: float = 30) -> None:
        self._queue.put(self._STOP)
        self.join(timeout)

    def run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[tuple[Op[Any], concurrent.futures.Future[Any]]] = []
            stopping = item is self._STOP
            urgent = stopping or item[2]
            if not stopping:
                batch.append(item[:2])
            deadline = time.monotonic() + COALESCE_SECONDS
            while len(batch) < MAX_BATCH:
                wait = 0.0 if urgent else deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is self._STOP:
                    stopping = urgent = True
                    continue
                urgent = urgent or item[2]
                batch.append(item[:2])
            if batch:
                self._run(batch)
            if stopping:
                return

    def _run(self, batch: list[tuple[Op[Any], concurrent.futures.Future[Any]]]) -> None:
        live = [(op, future) for op, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with self.database.write() as session:
                results = _run_grouped(session, [op for op, _ in live])
        except Exception as error:
            if len(live) > 1:
                for op, future in live:  # replay one by one, so one failing op fails alone
                    self._run_one(op, future)
            else:
                live[0][1].set_exception(error)
            return
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _run_one(self, op: Op[Any], future: concurrent.futures.Future[Any]) -> None:
        try:
            with self.database.write() as session:
                result = op(session)
        except Exception as error:
            future.set_exception(error)
            return
        future.set_result(result)
