"""Pages say what failed and what to do when the database, the data dir or the signing key cannot be used:
no exception box, no traceback, the same words as the command line."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio.services import build_services
from studio.settings import Settings
from tests.app.conftest import OpenPage

PAGES = sorted(
    str(path.relative_to(Path(__file__).resolve().parents[2]))
    for path in (Path(__file__).resolve().parents[2] / "pages").glob("*.py")
)


def _seeded(data_dir: Path) -> None:
    build_services(Settings(data_dir=data_dir)).close()


def _corrupt_database(data_dir: Path, _monkeypatch: pytest.MonkeyPatch) -> None:
    _seeded(data_dir)
    (data_dir / "studio.db").write_bytes(b"this is not a database" * 200)


def _data_dir_is_a_file(data_dir: Path, _monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir.write_text("a file where the data dir belongs")


def _empty_signing_key(data_dir: Path, _monkeypatch: pytest.MonkeyPatch) -> None:
    _seeded(data_dir)
    (data_dir / "signing.key").write_bytes(b"")


def _mysql(_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_DATABASE_URL", "mysql://studio:pw-hunter22@127.0.0.1/studio")


BROKEN: dict[str, tuple[Callable[[Path, pytest.MonkeyPatch], None], str, str]] = {
    "corrupt-database": (_corrupt_database, "is not a SQLite database", "move it aside"),
    "data-dir-is-a-file": (_data_dir_is_a_file, "is a file, not a folder", "set STUDIO_DATA_DIR"),
    "empty-signing-key": (_empty_signing_key, "signing.key is empty", "restore signing.key"),
    "mysql-url": (_mysql, "names a mysql database", "postgresql://"),
}


def _said(at: AppTest) -> str:
    errors = at.error
    assert len(errors) == 1, [e.value for e in errors]
    return str(errors[0].value)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_home_says_what_is_broken_and_what_to_do(
    case: str, open_page: OpenPage, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaks, what, fix = BROKEN[case]
    breaks(data_dir, monkeypatch)
    at = open_page("pages/home.py")
    assert not at.exception, [e.value for e in at.exception]
    message = _said(at)
    assert what in message and fix in message, message
    assert "pw-hunter22" not in str(at._tree) and "Traceback" not in str(at._tree)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_the_database_is_damaged(page: str, open_page: OpenPage, data_dir: Path) -> None:
    _corrupt_database(data_dir, pytest.MonkeyPatch())
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert "is not a SQLite database" in _said(at)


def test_a_table_dropped_while_the_app_runs_is_named_below_the_page(
    open_page: OpenPage, data_dir: Path
) -> None:
    at = open_page("pages/home.py")
    assert not at.exception and not at.error
    with sqlite3.connect(data_dir / "studio.db") as connection:
        connection.execute("DROP TABLE songs")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    message = _said(at)
    assert "studio.db" in message and "What to do:" in message, message
