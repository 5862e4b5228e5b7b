"""Both storage backends behind one harness (`supabase_server` comes from tests.servers.supabase_storage)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from studio.storage.local import LocalStorage
from studio.storage.supabase import SupabaseStorage
from tests.servers.supabase_storage import SupabaseStorageServer

SIGNING_KEY = b"test-signing-key-0123456789abcdef"


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage", SIGNING_KEY)


@pytest.fixture
def supabase_storage(supabase_server: SupabaseStorageServer) -> Iterator[SupabaseStorage]:
    storage = SupabaseStorage(supabase_server.url, supabase_server.key)
    yield storage
    storage.close()


@dataclass
class Harness:
    """One backend and the backend-specific ways to look behind it."""

    storage: LocalStorage | SupabaseStorage
    read_signed: Callable[[str], bytes]
    stored: Callable[[], set[str]]
    """Every `bucket/key` physically stored, whatever the backend's own listing says."""
    is_private: Callable[[str], bool]


def _local_harness(storage: LocalStorage) -> Harness:
    def stored() -> set[str]:
        if not storage.root.exists():
            return set()
        return {p.relative_to(storage.root).as_posix() for p in storage.root.rglob("*") if p.is_file()}

    def is_private(bucket: str) -> bool:
        folder = storage.root / bucket
        files = [p for p in folder.rglob("*") if p.is_file()]
        return (folder.stat().st_mode & 0o077) == 0 and all((p.stat().st_mode & 0o077) == 0 for p in files)

    return Harness(storage, storage.open_signed, stored, is_private)


def _supabase_harness(storage: SupabaseStorage, server: SupabaseStorageServer) -> Harness:
    def read_signed(url: str) -> bytes:
        response = httpx.get(url)  # no credentials: the URL alone must be enough
        response.raise_for_status()
        return response.content

    def is_private(bucket: str) -> bool:
        created = [c for c in server.bucket_creations if c["id"] == bucket]
        return server.buckets[bucket]["public"] is False and all(c.get("public") is False for c in created)

    return Harness(storage, read_signed, lambda: {f"{b}/{k}" for b, k in server.objects}, is_private)


@pytest.fixture(params=["local", "supabase"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "local":
        return _local_harness(request.getfixturevalue("local_storage"))
    return _supabase_harness(
        request.getfixturevalue("supabase_storage"), request.getfixturevalue("supabase_server")
    )
