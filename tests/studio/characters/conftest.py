"""Shared helpers of the character tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from studio.records.songs import SongRow
from studio.services import Services, build_services
from studio.settings import Settings
from studio.storage.keys import CHARACTER_BUCKET
from tests.servers.replicate import ReplicateServer


def song(services: Services, song_id: str = "demo-song") -> SongRow:
    row = services.records.songs.song(song_id)
    assert row is not None
    return row


def stored(services: Services) -> list[str]:
    return services.storage.list(CHARACTER_BUCKET)


@contextlib.asynccontextmanager
async def replicate_services(data_dir: Path, server: ReplicateServer) -> AsyncIterator[Services]:
    """Services that generate with SDXL over the Replicate protocol of `server` (interrogation stays local),
    closed on the way out."""
    services = build_services(
        Settings(
            data_dir=data_dir,
            image_provider="replicate",
            interrogator="local",
            replicate_api_token=server.token,
            replicate_base_url=server.base_url,
            retry_backoff=0.01,
        )
    )
    try:
        yield services
    finally:
        await services.aclose()
        services.close()
