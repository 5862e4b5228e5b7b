"""The hostile table's machinery: what a row is, the seeded studio each row starts from (SQLite in the data
dir, or a PostgreSQL database copied from a seeded template), and the snapshot "nothing written" compares."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.exc import SQLAlchemyError

from studio.settings import Settings
from tests.cli_runner import studio
from tests.conftest import PLANS_DIR
from tests.servers.postgres import PostgresServer

SEEDED_JOB = "00000000-0000-4000-8000-000000000001"
SEEDED_SONG = "seed-song"
BACKENDS = ("sqlite", "postgresql")
ONCE = ("sqlite",)
"""Rows refused before the records are opened (arguments, settings) run on one backend only."""
DATABASE_FILES = ("studio.db", "studio.db-journal", "studio.db-wal", "studio.db-shm")
SEED_COMMANDS = (
    ("character", "template", SEEDED_SONG, "character-1"),
    ("generate", str(PLANS_DIR / "minimal.json")),
    ("review", SEEDED_JOB, "--approve", "scene_rooftop"),
    ("review", SEEDED_JOB, "--approve", "character_singer"),
)
"""A song with a template character, and a job generated with every reference approved (export succeeds)."""


@dataclass(frozen=True)
class Studio:
    """One row's own studio: its data dir, and its PostgreSQL URL (None: SQLite in the data dir)."""

    data_dir: Path
    database_url: str | None = None

    @property
    def url(self) -> str:
        return Settings(data_dir=self.data_dir, database_url=self.database_url).resolved_database_url()

    @property
    def env(self) -> dict[str, str]:
        env = {"STUDIO_DATA_DIR": str(self.data_dir), "REFERENCE_RETRY_BACKOFF": "0.01"}
        if self.database_url:
            env["STUDIO_DATABASE_URL"] = self.database_url
        return env


@dataclass(frozen=True)
class Input:
    """A file a row needs, made in the test's own folder by `INPUTS[name]`."""

    name: str


Breaker = Callable[[Studio], dict[str, str]]
"""Breaks a row's studio before the command runs; returns environment variables the command gets too."""


@dataclass(frozen=True)
class Hostile:
    """One hostile input or broken environment: the command line, the exit code, what stderr must say and
    must not say, on which backends."""

    id: str
    args: tuple[str | Input, ...]
    code: int
    says: str
    also_says: tuple[str, ...] = ()
    never_says: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    breaks: Breaker | None = None
    backends: tuple[str, ...] = BACKENDS


def seed(seeded: Studio) -> Studio:
    for args in SEED_COMMANDS:
        result = studio(*args, env=seeded.env)
        assert result.code == 0, result.stderr
    return seeded


def copy_database(server: PostgresServer, template_url: str) -> str:
    """A new database holding what the template database holds (PostgreSQL copies it file by file)."""
    import uuid

    import psycopg

    name = "studio_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.url(), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_url.rsplit("/", 1)[1]}"')
    return server.url(name)


def _rows(url: str, data_dir: Path) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
                for name, table in metadata.tables.items()
            }
    except SQLAlchemyError:  # a database the row broke: its bytes must stay as they are
        return {
            "unreadable": {
                name: hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
                for name in DATABASE_FILES
                if (data_dir / name).is_file()
            }
        }
    finally:
        engine.dispose()


def snapshot(seeded: Studio) -> dict[str, Any]:
    """Every file's bytes (as a hash) and every table's rows: what "nothing written" compares."""
    data_dir = seeded.data_dir
    files = {
        str(path.relative_to(data_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and path.name not in DATABASE_FILES
    }
    return {"files": files, "rows": _rows(seeded.url, data_dir)}
