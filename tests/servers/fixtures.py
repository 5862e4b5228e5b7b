"""Pytest fixtures of the Replicate test server (a plugin listed in tests/conftest.py's `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.replicate import ReplicateServer


@pytest.fixture
def replicate_server() -> Iterator[ReplicateServer]:
    """A running Replicate-compatible API: 50 ms predictions, tiny PNGs, no faults until a test sets some."""
    with ReplicateServer(latency=0.05, output_scale=1 / 32) as server:
        yield server
