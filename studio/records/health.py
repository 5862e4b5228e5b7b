"""The records database's health, for the doctor: does it answer, is it whole, the studio's, migrated.

It creates nothing (a SQLite file not made yet is said so) and names the real cause of a failure in the same
words commands use (studio.records.failures): a damaged file is not a network problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

from studio.records.database import sqlite_path
from studio.records.failures import (
    RecordsUnavailable,
    checked_url,
    damaged_fix,
    described,
    shown_url,
    translated,
)
from studio.records.migrate import head_revision
from studio.records.schema import Base

PROBE_TIMEOUT = 3.0
"""Seconds connecting (or waiting for a SQLite lock) may take."""
_CREATE = "run any studio command once against it (e.g. `python -m studio worker --once`) to create them"
_UPGRADE = "run a studio command against it once (`python -m studio worker --once`): it upgrades in place"


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> str:
    """What the database at `url` is, or RecordsUnavailable with the cause and what to do."""
    checked_url(url)
    shown = shown_url(url)
    path = sqlite_path(url)
    connect_args: dict[str, Any]
    if path is not None:
        if not _sqlite_file(url, path):
            return f"SQLite at {path} is not created yet; the first command creates it"
        connect_args = {"timeout": timeout}
    else:
        connect_args = {"connect_timeout": max(1, round(timeout))}
    engine = create_engine(url, connect_args=connect_args)
    try:
        with translated(url), engine.connect() as connection:
            if path is not None:
                _whole(url, connection.exec_driver_sql("PRAGMA quick_check(1)").scalar())
            tables = set(inspect(connection).get_table_names())
            revision = None
            if "alembic_version" in tables:
                revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    missing = sorted(set(Base.metadata.tables) - tables)
    head = head_revision()
    if missing and revision == head:
        raise RecordsUnavailable(
            f"{described(url)} lacks the tables {', '.join(missing)}: it was changed outside the studio",
            damaged_fix(url),
        )
    if missing:
        raise RecordsUnavailable(
            f"{shown} answers but is not migrated: missing tables {', '.join(missing)}", _CREATE
        )
    if revision != head:
        raise RecordsUnavailable(
            f"{shown} answers but is at migration {revision or 'none'}, not {head}", _UPGRADE
        )
    return f"{shown} answers, migrated to {head}"


def _sqlite_file(url: str, path: Path) -> bool:
    """Whether the SQLite file exists; RecordsUnavailable when it cannot be one (a folder, under a file)."""
    fix = "set STUDIO_DATA_DIR (or STUDIO_DATABASE_URL) to a folder this user may create and write"
    if path.is_dir():
        raise RecordsUnavailable(f"{described(url)} cannot be opened: {path} is a folder", fix)
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RecordsUnavailable(
            f"{described(url)} cannot be opened: {existing} is a file, not a folder", fix
        )
    return path.exists()


def _whole(url: str, verdict: object) -> None:
    """SQLite's own check of the file's structure (what a damaged page in the middle of the file shows)."""
    if verdict != "ok":
        raise RecordsUnavailable(
            f"{described(url)} is damaged (SQLite's check says: {verdict})", damaged_fix(url)
        )
