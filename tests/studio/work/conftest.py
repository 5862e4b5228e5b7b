"""Real `python -m studio` processes on SQLite and PostgreSQL against the Replicate-compatible server:
each test module says how slow that server answers (its `server` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.services import Services
from tests.servers.replicate import ReplicateServer
from tests.studio.processes import environment_for, services_for


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def environment(data_dir: Path, server: ReplicateServer, database_url: str | None) -> dict[str, str]:
    return environment_for(data_dir, server, database_url, STUDIO_INTERROGATOR="local")


@pytest.fixture
def studio(environment: dict[str, str]) -> Iterator[Services]:
    built = services_for(environment)
    assert built.generator.name == "replicate"
    yield built
    built.close()
