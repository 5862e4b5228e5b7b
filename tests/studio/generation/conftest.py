"""The Replicate generator as the generation tests use it: the real client against the test server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from studio.clients import replicate_client
from studio.generation.replicate import ReplicateImageGenerator
from tests.servers.replicate import ReplicateServer


@pytest.fixture
async def generator(replicate_server: ReplicateServer) -> AsyncIterator[ReplicateImageGenerator]:
    made = ReplicateImageGenerator(
        replicate_client(replicate_server.token, replicate_server.base_url), timeout=5, poll_interval=0.02
    )
    yield made
    await made.aclose()
