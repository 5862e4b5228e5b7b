"""Shared helpers of the character tests."""

from __future__ import annotations

from studio.keys import CHARACTER_BUCKET
from studio.records.songs import SongRow
from studio.services import Services


def song(services: Services, song_id: str = "demo-song") -> SongRow:
    row = services.records.songs.song(song_id)
    assert row is not None
    return row


def stored(services: Services) -> list[str]:
    return services.storage.list(CHARACTER_BUCKET)
