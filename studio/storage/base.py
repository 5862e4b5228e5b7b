"""The object store every backend implements: private buckets, upserts, signed URLs."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Storage(Protocol):
    """Private object storage. Keys are `/`-separated; missing objects raise NotFound."""

    name: str

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Store `data` at `key`, replacing what was there (upsert)."""
        ...

    def get(self, bucket: str, key: str) -> bytes:
        """The bytes at `key`."""
        ...

    def exists(self, bucket: str, key: str) -> bool:
        """Whether an object is stored at `key`."""
        ...

    def copy(self, bucket: str, source: str, destination: str) -> None:
        """Copy one object to another key in the same bucket, replacing the destination."""
        ...

    def delete(self, bucket: str, keys: list[str]) -> None:
        """Delete objects; keys that do not exist are ignored."""
        ...

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under `prefix`, recursively, sorted."""
        ...

    def signed_url(self, bucket: str, key: str, expires_in: int) -> str:
        """A URL that reads the object without credentials until it expires."""
        ...
