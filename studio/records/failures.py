"""What a records failure means to the person running the studio: the one place that reads database errors.

SQLAlchemy and driver errors are classified by their types and the drivers' own codes (SQLite result codes,
PostgreSQL SQLSTATEs), never by message text. Each becomes RecordsUnavailable: what failed and where, with the
driver's words as the cause, and what to do. Errors that mean a bug (an integrity or data error, misuse of the
ORM) are left as they are: their traceback is what helps.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa
from sqlalchemy.engine import URL, make_url

from studio.errors import Unavailable

SUPPORTED = {"sqlite": "pysqlite", "postgresql": "psycopg"}
"""Backends the studio runs on, with the driver it ships for each."""
URL_FIX = (
    "set STUDIO_DATABASE_URL to a postgresql:// URL (user, password, host, port and database), "
    "or unset it to keep the records in SQLite in the data dir"
)
_CHECK = (
    "run `python -m studio doctor` to see what is wrong; if the database was changed outside the studio, "
    "restore it from a backup"
)
_REACH = (
    "check STUDIO_DATABASE_URL (host, port, user, password, database name) and that the server is running"
)
_CONVERTED = (sa.DatabaseError, sa.InterfaceError, sa.TimeoutError, sa.DisconnectionError, sqlite3.Error)
"""The database failing; of these, integrity and data errors are bugs (the studio wrote something wrong)."""


class RecordsUnavailable(Unavailable):
    """The records database cannot be used (unreachable, damaged, changed outside the studio, refused).

    `passing` when the cause may go away by itself (the server restarting or unreachable, a lock held too
    long, a full disk): work in progress waits for it a while before giving up.
    """

    def __init__(self, what: str, fix: str, *, passing: bool = False) -> None:
        super().__init__(what, fix)
        self.passing = passing


def shown_url(url: str) -> str:
    """The URL with any password hidden, for messages and the doctor."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.ArgumentError:
        return "(not a database URL)"


def checked_url(url: str) -> URL:
    """The URL of a backend the studio supports, else RecordsUnavailable naming what to set."""
    try:
        parsed = make_url(url)
    except sa.ArgumentError:
        raise RecordsUnavailable("STUDIO_DATABASE_URL is not a database URL", URL_FIX) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in SUPPORTED:
        raise RecordsUnavailable(
            f"STUDIO_DATABASE_URL names a {backend} database; the studio runs on PostgreSQL or SQLite",
            URL_FIX,
        )
    if driver != SUPPORTED[backend]:
        raise RecordsUnavailable(
            f"STUDIO_DATABASE_URL asks for the {driver} driver; the studio uses {SUPPORTED[backend]}",
            f"write the URL as {backend}://... without a driver name",
        )
    return parsed


def _backend(url: str) -> str | None:
    try:
        return make_url(url).get_backend_name()
    except sa.ArgumentError:
        return None


def described(url: str) -> str:
    """Where the records are, in words: `the records database /data/studio.db`."""
    try:
        parsed = make_url(url)
    except sa.ArgumentError:
        return "the records database at STUDIO_DATABASE_URL"
    if parsed.get_backend_name() == "sqlite":
        return f"the records database {parsed.database}"
    return f"the records database {parsed.database!r} on PostgreSQL at {parsed.host}:{parsed.port or 5432}"


def damaged_fix(url: str) -> str:
    """What to do about a database whose tables are gone or whose file is damaged."""
    if _backend(url) == "sqlite":
        name = make_url(url).database
        return (
            f"restore it from a backup, or move it aside (`mv {name} {name}.broken`, its -wal and -shm "
            "files too if any): the next command starts a new, empty one"
        )
    return (
        "restore it from a backup, or point STUDIO_DATABASE_URL at an empty database: the studio sets it up"
    )


_PASSING_SQLITE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}
_PASSING_POSTGRES = ("08", "53", "57")
"""Connection failures, a server out of resources, a server shutting down or starting up."""


def _sqlite(error: sqlite3.Error, url: str) -> tuple[str, str]:
    code = getattr(error, "sqlite_errorcode", sqlite3.SQLITE_ERROR) & 0xFF
    name = make_url(url).database or "the database file"
    writable = f"make {name} and its folder writable by this user, or set STUDIO_DATA_DIR to a folder that is"
    by_code = {
        sqlite3.SQLITE_CORRUPT: ("is damaged", damaged_fix(url)),
        sqlite3.SQLITE_NOTADB: ("is not a SQLite database", damaged_fix(url)),
        sqlite3.SQLITE_CANTOPEN: ("cannot be opened", writable),
        sqlite3.SQLITE_READONLY: ("is read-only", writable),
        sqlite3.SQLITE_PERM: ("may not be written", writable),
        sqlite3.SQLITE_AUTH: ("may not be written", writable),
        sqlite3.SQLITE_FULL: ("cannot grow: the disk is full", f"free space on the disk that holds {name}"),
        sqlite3.SQLITE_IOERR: (
            "could not be read or written (disk I/O error)",
            f"check the disk holding {name}",
        ),
        sqlite3.SQLITE_NOMEM: ("ran out of memory", "free memory and run the command again"),
        sqlite3.SQLITE_BUSY: (
            "stayed locked by another process",
            "wait for the other studio process to finish, or stop it, and run the command again",
        ),
        sqlite3.SQLITE_LOCKED: ("stayed locked", "run the command again"),
    }
    return by_code.get(code, ("refused a statement", _CHECK))


_POSTGRES: dict[str, tuple[str, str]] = {
    "08": ("could not be connected to", _REACH),
    "28": ("refused the user or password", "check the user and password in STUDIO_DATABASE_URL"),
    "3D": ("does not exist", "create it, or point STUDIO_DATABASE_URL at a database that exists"),
    "42P01": (
        "lacks a table the studio needs: it was changed outside the studio",
        "restore it from a backup",
    ),
    "42703": (
        "lacks a column the studio needs: it was changed outside the studio",
        "restore it from a backup",
    ),
    "42501": ("refuses this user", "grant the user of STUDIO_DATABASE_URL the rights to the studio's tables"),
    "25006": ("is read-only", "point STUDIO_DATABASE_URL at the primary server, not a read replica"),
    "53": ("is out of resources (connections, memory or disk)", "free them on the server, then run again"),
    "57": ("was shut down or stopped the statement", "run the command again once the server is back"),
}


def _postgres(error: BaseException) -> tuple[str, str]:
    import psycopg

    state = getattr(error, "sqlstate", None)
    if state is None:  # libpq gives no SQLSTATE for a failed connection: the cause says which step failed
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return "could not be connected to", _REACH
        return "failed", _CHECK
    return _POSTGRES.get(state) or _POSTGRES.get(state[:2]) or ("refused a statement", _CHECK)


def _cause(error: BaseException) -> str:
    """The driver's own words (first line), for the message; never used to decide anything."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0].strip().removeprefix("connection failed: ") if lines else type(original).__name__


def explain(error: BaseException, url: str) -> RecordsUnavailable:
    """The error in words: what failed, where, and what to do."""
    if isinstance(error, RecordsUnavailable):
        return error
    original = getattr(error, "orig", None) or error
    passing = isinstance(error, sa.DisconnectionError)
    if isinstance(original, sqlite3.Error):
        what, fix = _sqlite(original, url)
        passing = getattr(original, "sqlite_errorcode", sqlite3.SQLITE_ERROR) & 0xFF in _PASSING_SQLITE
    elif isinstance(error, sa.TimeoutError):
        what, fix = "had no free connection in time", "run fewer studio processes at once, then run again"
        passing = True
    elif isinstance(error, sa.DBAPIError) and _backend(url) == "postgresql":
        what, fix = _postgres(original)
        state = getattr(original, "sqlstate", None)
        passing = error.connection_invalidated or (
            state.startswith(_PASSING_POSTGRES) if state else _lost_connection(original)
        )
    else:
        what, fix = "failed", _CHECK
    return RecordsUnavailable(f"{described(url)} {what} ({_cause(error)})", fix, passing=passing)


def _lost_connection(error: BaseException) -> bool:
    """libpq gives no SQLSTATE when it cannot connect or loses the connection: the driver's type says."""
    import psycopg

    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` is the database failing (not a bug in the studio's use of it)."""
    return isinstance(error, _CONVERTED) and not isinstance(error, sa.IntegrityError | sa.DataError)


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Database failures inside become RecordsUnavailable (the original is kept as its cause)."""
    try:
        yield
    except Exception as error:
        if is_unavailable(error):
            raise explain(error, url) from error
        raise
