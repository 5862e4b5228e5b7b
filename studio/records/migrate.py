"""Schema migrations (Alembic): a new database is created at head, an existing one upgraded in place.

Many processes may open a new data dir at the same moment: they take turns (a file lock beside a SQLite
database, an advisory lock on PostgreSQL), and each looks at the schema only once it holds the turn, so the
schema is created or upgraded exactly once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from studio.records.database import first_use_lock
from studio.records.failures import RecordsUnavailable, damaged_fix, described
from studio.records.schema import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
"""The schema of databases created before migrations existed."""
_LOCK_KEY = 7_302_651_944  # pg_advisory_xact_lock key: one migrator at a time per database
_HEAD: str | None = None


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    global _HEAD
    if _HEAD is None:
        _HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert _HEAD is not None
    return _HEAD


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def missing_tables(connection: Connection) -> list[str]:
    """The studio's tables the database lacks."""
    return sorted(set(Base.metadata.tables) - set(inspect(connection).get_table_names()))


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema; safe to call from several processes at once.

    A database at the newest revision that lacks some of its tables was changed outside the studio: it is
    refused (RecordsUnavailable) before any command reads a wrong answer from it.
    """
    url = engine.url.render_as_string(hide_password=False)
    with first_use_lock(url):
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            missing = missing_tables(connection) if revision == head_revision() else []
        if missing:
            raise RecordsUnavailable(
                f"{described(url)} lacks the tables {', '.join(missing)}: it was changed outside the studio",
                damaged_fix(url),
            )
        if revision == head_revision():
            return
        with engine.execution_options(sqlite_begin="EXCLUSIVE").begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            tables = set(inspect(connection).get_table_names())
            config = alembic_config(connection)
            if "alembic_version" not in tables and not tables & set(Base.metadata.tables):
                Base.metadata.create_all(connection)  # a new database: create at head, no replay needed
                command.stamp(config, "head")
                return
            if "alembic_version" not in tables:  # tables made before migrations existed: the baseline
                command.stamp(config, BASELINE)
            command.upgrade(config, "head")
