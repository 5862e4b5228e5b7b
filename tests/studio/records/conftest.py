"""The records suite runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.records import Records
from studio.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    if request.param == "sqlite":
        return Settings(data_dir=data_dir).resolved_database_url()
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def records(database_url: str) -> Iterator[Records]:
    built = Records(Settings(database_url=database_url).resolved_database_url())
    yield built
    built.close()
