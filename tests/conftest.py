"""Every test gets a fresh data dir and an environment with no studio variables or keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.services import Services, build_services
from studio.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
PLANS_DIR = SHARED / "plans"
if not PLANS_DIR.exists():  # a clone placed elsewhere: fall back to the copies in the repo
    PLANS_DIR = Path(__file__).resolve().parent / "data" / "plans"

pytest_plugins = [
    "tests.servers.openai",
    "tests.servers.fixtures",
    "tests.servers.supabase_storage",
    "tests.servers.postgres",
    "tests.servers.oidc",
]

_PREFIXES = ("STUDIO_", "REPLICATE_", "OPENAI_", "SUPABASE_", "REFERENCE_")
_NAMES = {"ENVIRONMENT"}


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name in _NAMES:
            monkeypatch.delenv(name)
    data_dir = tmp_path / "studio-data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("REFERENCE_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("REPLICATE_CREATES_PER_MINUTE", "1000000")  # unpaced, unless a test paces
    return data_dir


@pytest.fixture
def data_dir(clean_environment: Path) -> Path:
    return clean_environment


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, retry_backoff=0.01)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


@pytest.fixture
def plan_path() -> Path:
    return PLANS_DIR / "music-video.json"


LONG = (
    "tests/browser/",
    "tests/studio/work/test_crashes.py",
    "tests/studio/work/test_outages.py",
    "tests/studio/work/test_workers.py",
    "tests/studio/references/test_races.py",
    "tests/studio/references/test_rate_limits.py",
    "tests/studio/api/test_story.py",
)
"""Tests of a quarter to half a minute each: browsers, real processes, outages."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs `-n 2 --dist worksteal`: each worker starts on one half of the list and steals from
    the other's tail when it runs dry. Each half begins with every other long test, so the two workers share
    the long tests and end on short ones instead of one idling while the other finishes a browser test."""
    long = [item for item in items if item.nodeid.startswith(LONG)]
    short = [item for item in items if not item.nodeid.startswith(LONG)]
    first, second = long[0::2], long[1::2]
    split = max(len(items) // 2 - len(first), 0)
    items[:] = first + short[:split] + second + short[split:]
