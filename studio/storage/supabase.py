"""Object storage on Supabase Storage through the official `supabase` client.

Buckets are created private the first time an instance touches them. Errors are classified by the
client's exception types and HTTP status (never by message text): 404 is NotFound, everything else a
SupabaseStorageError that says whether a retry could help.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import httpx
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException

from studio.errors import InvalidInput, NotFound, StorageUnavailable, StudioError
from studio.storage.base import check_bucket, check_key, check_prefix

_PAGE = 1000
_PLACEHOLDER = ".emptyFolderPlaceholder"
T = TypeVar("T")


class SupabaseStorageError(StorageUnavailable):
    """A Supabase Storage call that failed; `status` is its HTTP status (None for network errors)."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message, "check SUPABASE_URL and SUPABASE_KEY, and that Supabase Storage answers")
        self.status = status
        self.retryable = status is None or status == 429 or status >= 500


def _status(error: StorageApiError) -> int | None:
    try:
        return int(str(error.status))
    except ValueError:
        return None


class SupabaseStorage:
    """Private Supabase Storage buckets; the client is built from (url, key) unless one is passed in."""

    name = "supabase"

    def __init__(self, url: str, key: str, *, client: Any | None = None) -> None:
        if client is None:
            from supabase import create_client
            from supabase.lib.client_options import SyncClientOptions

            if not url.startswith(("http://", "https://")):
                raise InvalidInput("SUPABASE_URL", f"{url!r} is not an http(s) URL")
            if not key:
                raise InvalidInput("SUPABASE_KEY", "must not be empty")
            self._http: httpx.Client | None = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
            client = create_client(url, key, SyncClientOptions(httpx_client=self._http))
        else:
            self._http = None
        self._storage = client.storage
        self.url = url.rstrip("/")
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput("data", f"must be bytes, not {type(data).__name__}")
        if not content_type or "/" not in content_type:
            raise InvalidInput("content_type", f"{content_type!r} is not a media type like 'image/png'")
        files = self._bucket(bucket)
        options = {"content-type": content_type, "upsert": "true", "cache-control": "3600"}
        self._call(f"upload {bucket}/{key}", lambda: files.upload(key, bytes(data), options))

    def get(self, bucket: str, key: str) -> bytes:
        check_key(key)
        files = self._bucket(bucket)
        data: bytes = self._call(f"download {bucket}/{key}", lambda: files.download(key))
        return data

    def exists(self, bucket: str, key: str) -> bool:
        check_key(key)
        files = self._bucket(bucket)
        found: bool = self._call(f"check {bucket}/{key}", lambda: files.exists(key))
        return found

    def content_type(self, bucket: str, key: str) -> str:
        """The media type the object was stored with."""
        check_key(key)
        files = self._bucket(bucket)
        info: dict[str, Any] = self._call(f"read info of {bucket}/{key}", lambda: files.info(key))
        metadata = info.get("metadata") or {}
        return str(info.get("content_type") or metadata.get("mimetype") or "application/octet-stream")

    def copy(self, bucket: str, source: str, destination: str) -> None:
        check_key(source, "source")
        check_key(destination, "destination")
        files = self._bucket(bucket)
        what = f"copy {bucket}/{source} to {destination}"
        try:
            self._call(what, lambda: files.copy(source, destination))
        except SupabaseStorageError as error:
            if error.status != 409:  # copy never overwrites: remove the destination, then copy again
                raise
            self._call(f"replace {bucket}/{destination}", lambda: files.remove([destination]))
            self._call(what, lambda: files.copy(source, destination))

    def delete(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            check_key(key)
        files = self._bucket(bucket)
        for start in range(0, len(keys), _PAGE):
            batch = keys[start : start + _PAGE]
            self._call(f"delete {len(batch)} objects from {bucket}", partial(files.remove, batch))

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        folder = check_prefix(prefix)
        files = self._bucket(bucket)
        keys: list[str] = []
        pending = [folder]
        while pending:
            current = pending.pop()
            for entry in self._folder(bucket, files, current):
                name = str(entry["name"])
                path = f"{current}/{name}" if current else name
                if entry.get("id") is None:
                    pending.append(path)
                elif name != _PLACEHOLDER:
                    keys.append(path)
        return sorted(keys)

    def signed_url(self, bucket: str, key: str, expires_in: int) -> str:
        check_key(key)
        if not isinstance(expires_in, int) or expires_in <= 0:
            raise InvalidInput("expires_in", f"must be a positive number of seconds, not {expires_in!r}")
        files = self._bucket(bucket)
        signed: dict[str, Any] = self._call(
            f"sign {bucket}/{key}", lambda: files.create_signed_url(key, expires_in)
        )
        url = str(signed.get("signedURL") or signed.get("signedUrl") or "")
        if not url:
            raise SupabaseStorageError(f"Supabase Storage signed {bucket}/{key} without a URL", status=None)
        return url if url.startswith(("http://", "https://")) else f"{self.url}/storage/v1/{url.lstrip('/')}"

    def close(self) -> None:
        """Close the HTTP connections this instance opened (an injected client is its owner's to close)."""
        if self._http is not None:
            self._http.close()

    def _folder(self, bucket: str, files: Any, folder: str) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            options = {"limit": _PAGE, "offset": offset, "sortBy": {"column": "name", "order": "asc"}}
            page: list[dict[str, Any]] = self._call(
                f"list {bucket}/{folder}", partial(files.list, folder, options)
            )
            yield from page
            if len(page) < _PAGE:
                return
            offset += len(page)

    def _bucket(self, bucket: str) -> Any:
        """The client's file API for `bucket`, creating the bucket private the first time it is used."""
        check_bucket(bucket)
        with self._lock:  # held across the first check so concurrent writers create the bucket once
            if bucket not in self._ready:
                try:
                    self._call(f"read bucket {bucket}", lambda: self._storage.get_bucket(bucket))
                except NotFound:
                    try:
                        create = self._storage.create_bucket
                        self._call(
                            f"create bucket {bucket}", lambda: create(bucket, options={"public": False})
                        )
                    except SupabaseStorageError as error:
                        if error.status != 409:  # 409: another process created it meanwhile
                            raise
                self._ready.add(bucket)
        return self._storage.from_(bucket)

    def _call(self, what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except (StorageException, ValueError, httpx.HTTPError) as error:
            raise self._classify(what, error) from error

    def _classify(self, what: str, error: Exception) -> StudioError:
        if isinstance(error, StorageApiError):
            status = _status(error)
            if status == 404:
                return NotFound(f"Supabase Storage could not {what}: not found")
            if status in (401, 403):
                return SupabaseStorageError(
                    f"Supabase Storage refused to {what} (HTTP {status}): check that SUPABASE_KEY is this "
                    "project's service key",
                    status=status,
                )
            return SupabaseStorageError(
                f"Supabase Storage could not {what}: HTTP {status} {error.code}", status=status
            )
        if isinstance(error, httpx.HTTPError):
            return SupabaseStorageError(
                f"Supabase Storage at {self.url} could not be reached to {what}: {type(error).__name__}",
                status=None,
            )
        return SupabaseStorageError(f"Supabase Storage could not {what}: {error}", status=None)
