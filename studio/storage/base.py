"""The object store every backend implements: private buckets, upserts, signed URLs."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from studio.errors import InvalidInput
from studio.storage.keys import safe_id_problem


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


_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def check_bucket(bucket: str) -> str:
    """Return `bucket` when it is a safe bucket name (letters, digits, `-`, `_`), else raise InvalidInput."""
    problem = safe_id_problem(bucket)
    if problem:
        raise InvalidInput("bucket", problem)
    return bucket


def check_key(key: str, field: str = "key") -> str:
    """Return `key` when every `/`-separated segment is safe, else raise InvalidInput naming `field`.

    Both backends refuse the same keys, so nothing can be stored on one that the other would refuse:
    no absolute paths, no empty, `.` or `..` segments, no backslashes, no hidden names, at most 512
    characters.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInput(field, "must not be empty")
    if len(key) > 512:
        raise InvalidInput(field, f"is {len(key)} characters long; at most 512 are allowed")
    if "\\" in key:
        raise InvalidInput(field, f"{key!r} contains a backslash; use '/' between segments")
    if key.startswith("/"):
        raise InvalidInput(field, f"{key!r} is absolute; keys are relative to the bucket")
    for segment in key.split("/"):
        if not segment:
            raise InvalidInput(field, f"{key!r} has an empty segment")
        if segment in (".", ".."):
            raise InvalidInput(field, f"{key!r} has a {segment!r} segment")
        if not _SEGMENT.fullmatch(segment):
            raise InvalidInput(
                field,
                f"{key!r}: segment {segment!r} may only hold letters, digits, '.', '-', '_' (no leading '.')",
            )
    return key


def check_prefix(prefix: str) -> str:
    """A list prefix: a folder key (trailing `/` optional) or "" for the whole bucket; returned sans `/`."""
    folder = prefix[:-1] if prefix.endswith("/") else prefix
    return check_key(folder, "prefix") if folder else ""
