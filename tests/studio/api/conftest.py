"""The API in-process: the same routes `make run` mounts, served to Starlette's TestClient (httpx) at the
address local mode answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette

from studio.access.deployment import Mode
from studio.api import api_routes
from studio.services import Services
from studio.work.runner import drain
from tests.conftest import PLANS_DIR

BASE = "http://127.0.0.1:8501"
MINIMAL = json.loads((PLANS_DIR / "minimal.json").read_text())
JOB = MINIMAL["job_id"]


def client_for(services: Services, mode: Mode) -> TestClient:
    return TestClient(Starlette(routes=api_routes(lambda: services, lambda: mode)), base_url=BASE)


@pytest.fixture
def local(services: Services) -> Iterator[TestClient]:
    with client_for(services, "local") as client:
        yield client


@pytest.fixture
def team(services: Services) -> Iterator[TestClient]:
    with client_for(services, "team") as client:
        yield client


def run_queued(services: Services) -> None:
    """What the server's runner does with queued work, here and now."""
    asyncio.run(drain(services))


def events_of(lines: Iterator[str]) -> list[dict[str, Any]]:
    """The events of a Server-Sent Events stream, each as {id, event, data}, until the stream ends."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current[name] = json.loads(value) if name == "data" else value.strip()
    return events
