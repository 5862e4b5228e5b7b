"""Database failures become RecordsUnavailable naming what failed, where and what to do, on SQLite and
PostgreSQL; bugs (integrity errors) keep their own type."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from studio.records import Records
from studio.records.failures import RecordsUnavailable, checked_url
from studio.records.health import probe
from studio.records.schema import JobRow
from studio.settings import Settings
from tests.servers.postgres import PostgresServer


def _url(database_url: str) -> str:
    return Settings(database_url=database_url).resolved_database_url()


def _drop(url: str, table: str) -> None:
    records = Records(url)
    with records.db.write() as s:
        s.execute(text(f"DROP TABLE {table}"))
    records.close()


def test_a_table_dropped_outside_the_studio_is_named_when_the_records_open(database_url: str) -> None:
    url = _url(database_url)
    _drop(url, "ledger")
    with pytest.raises(RecordsUnavailable) as refused:
        Records(url)
    assert "lacks the tables ledger" in refused.value.what
    assert "restore it from a backup" in refused.value.fix
    with pytest.raises(RecordsUnavailable, match="lacks the tables ledger"):
        probe(url)


def test_a_table_dropped_while_open_fails_the_next_read_in_words(database_url: str) -> None:
    url = _url(database_url)
    records = Records(url)
    try:
        with records.db.write() as s:
            s.execute(text("DROP TABLE events"))
        with pytest.raises(RecordsUnavailable) as refused:
            records.events.after("no-job")
        assert "the records database" in refused.value.what and "events" in refused.value.what
        assert isinstance(refused.value.__cause__, Exception)
    finally:
        records.close()


def test_a_bug_keeps_its_own_error(database_url: str) -> None:
    records = Records(_url(database_url))
    try:
        with pytest.raises(IntegrityError), records.db.write() as s:
            s.add_all([JobRow(id="same", plan_json="{}"), JobRow(id="same", plan_json="{}")])
    finally:
        records.close()


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"hello, not a database" * 100, "is not a SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "is"),
    ],
    ids=["not-a-database", "damaged-header"],
)
def test_a_damaged_sqlite_file_is_named_with_what_to_do(tmp_path: Path, content: bytes, what: str) -> None:
    path = tmp_path / "studio.db"
    path.write_bytes(content)
    url = f"sqlite:///{path}"
    for attempt in (lambda: Records(url), lambda: probe(url)):
        with pytest.raises(RecordsUnavailable) as refused:
            attempt()
        assert f"the records database {path} {what}" in refused.value.what
        assert "move it aside" in refused.value.fix and "host, port" not in refused.value.fix


def test_damage_inside_the_file_is_found_by_the_doctor(tmp_path: Path) -> None:
    path = tmp_path / "studio.db"
    Records(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    last = (pages - 1) * size  # the last page: an index or table page, not the schema
    data[last : last + size] = b"\xa5" * size
    path.write_bytes(bytes(data))
    with pytest.raises(RecordsUnavailable, match="is damaged"):
        probe(f"sqlite:///{path}")


def test_a_folder_where_the_file_belongs_or_a_file_where_the_folder_belongs(tmp_path: Path) -> None:
    (tmp_path / "studio.db").mkdir()
    with pytest.raises(RecordsUnavailable, match="is a folder"):
        Records(f"sqlite:///{tmp_path / 'studio.db'}")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for attempt in (
        lambda: Records(f"sqlite:///{blocker}/studio.db"),
        lambda: probe(f"sqlite:///{blocker}/studio.db"),
    ):
        with pytest.raises(RecordsUnavailable, match="is a file, not a folder") as refused:
            attempt()
        assert "STUDIO_DATA_DIR" in refused.value.fix
    assert blocker.read_text() == "x"


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("mysql://studio:pw-hunter22@127.0.0.1/studio", "names a mysql database"),
        ("postgresql+psycopg2://studio@127.0.0.1/studio", "asks for the psycopg2 driver"),
        ("sqlite+aiosqlite:///x.db", "asks for the aiosqlite driver"),
        ("not a url", "is not a database URL"),
    ],
)
def test_unsupported_urls_are_refused_before_connecting(url: str, what: str) -> None:
    with pytest.raises(RecordsUnavailable) as refused:
        checked_url(url)
    assert what in refused.value.what and "pw-hunter22" not in str(refused.value)
    with pytest.raises(RecordsUnavailable, match=what):
        Records(url)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_postgresql_is_named_without_its_password() -> None:
    url = _url(f"postgresql://studio:pw-hunter22@127.0.0.1:{_closed_port()}/studio")
    with pytest.raises(RecordsUnavailable) as refused:
        Records(url)
    message = str(refused.value)
    assert "'studio' on PostgreSQL at 127.0.0.1" in message and "could not be connected to" in message
    assert "host, port, user, password" in refused.value.fix and "pw-hunter22" not in message


@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist(postgres_server: PostgresServer) -> None:
    """libpq gives a failed connection no SQLSTATE: the server's own words say which step failed."""
    with pytest.raises(RecordsUnavailable) as refused:
        Records(_url(postgres_server.url("no_such_database")))
    assert "could not be connected to" in refused.value.what
    assert 'database "no_such_database" does not exist' in refused.value.what
    assert "database name" in refused.value.fix
