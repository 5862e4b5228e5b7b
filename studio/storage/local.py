"""Object storage on the local disk: the offline default, with HMAC-signed expiring URLs.

Objects live at `<root>/<bucket>/<key>`; their content types beside them in a parallel tree,
`<root>/.content-types/<bucket>/<key>`, which no bucket name can reach (bucket names never start with `.`).

Signed URLs have the form
`{STUDIO_PUBLIC_URL}/api/v1/objects/<bucket>/<key>?expires=<unix seconds>&signature=<hex>`, served by the HTTP
API so any tool can fetch them; the signature is HMAC-SHA256 with the signing key over
`<bucket>\\n<key>\\n<expires>`. `verify` checks one (and the `studio-local://` URLs of older manifests) and
`open_signed` reads the object it names; neither needs anything but the URL and the signing key.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from studio.errors import InvalidInput, NotFound
from studio.storage.base import check_bucket, check_key, check_prefix
from studio.storage.private_files import write_private

SCHEME = "studio-local"
OBJECTS_PATH = "/api/v1/objects/"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8501"
_CONTENT_TYPES = ".content-types"


class SignatureMismatch(InvalidInput):
    """A signed URL whose bucket, key, expiry or signature was changed (or signed with another key)."""


class UrlExpired(InvalidInput):
    """A signed URL past its expiry: valid once, refused now."""


class LocalStorage:
    """Private files under `root`: directories 0700, files 0600, every write atomic (temp file + rename).

    `durable=True` also fsyncs each file before the rename (slower: ~10 ms per image on a busy disk).
    """

    name = "local"

    def __init__(
        self,
        root: Path,
        signing_key: bytes,
        *,
        clock: Callable[[], float] = time.time,
        durable: bool = False,
        public_url: str = DEFAULT_PUBLIC_URL,
    ) -> None:
        if not signing_key:
            raise InvalidInput("signing_key", "must not be empty")
        self.root = Path(root)
        self._signing_key = signing_key
        self._clock = clock
        self._durable = durable
        self.public_url = public_url.rstrip("/")

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        path = self._path(bucket, key)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput("data", f"must be bytes, not {type(data).__name__}")
        if not content_type or "/" not in content_type:
            raise InvalidInput("content_type", f"{content_type!r} is not a media type like 'image/png'")
        if path.is_dir():
            raise InvalidInput("key", f"{key!r} is a folder that holds other objects")
        self._write(path, bytes(data))
        sidecar = self._type_path(bucket, key)
        if content_type == mimetypes.guess_type(key)[0]:  # the extension says it: no second file to write
            sidecar.unlink(missing_ok=True)
        else:
            self._write(sidecar, content_type.encode())

    def get(self, bucket: str, key: str) -> bytes:
        path = self._path(bucket, key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key!r} in bucket {bucket!r}") from None

    def exists(self, bucket: str, key: str) -> bool:
        return self._path(bucket, key).is_file()

    def content_type(self, bucket: str, key: str) -> str:
        """The media type the object was stored with (guessed from the extension for files put by hand)."""
        if not self.exists(bucket, key):
            raise NotFound(f"no object {key!r} in bucket {bucket!r}")
        try:
            return self._type_path(bucket, key).read_text().strip()
        except OSError:
            return mimetypes.guess_type(key)[0] or "application/octet-stream"

    def copy(self, bucket: str, source: str, destination: str) -> None:
        check_key(destination, "destination")
        data = self.get(bucket, check_key(source, "source"))
        self.put(bucket, destination, data, self.content_type(bucket, source))

    def delete(self, bucket: str, keys: list[str]) -> None:
        paths = [(self._path(bucket, key), self._type_path(bucket, key)) for key in keys]
        for path, type_path in paths:
            for doomed in (path, type_path):
                if doomed.is_file():
                    doomed.unlink(missing_ok=True)
                    self._prune(doomed.parent)

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        folder = check_prefix(prefix)
        top = self.root / check_bucket(bucket)
        start = top / folder if folder else top
        if not start.is_dir():
            return []
        keys = []
        for directory, _, files in os.walk(start):
            for name in files:
                if not name.startswith("."):
                    keys.append((Path(directory) / name).relative_to(top).as_posix())
        return sorted(keys)

    def signed_url(self, bucket: str, key: str, expires_in: int) -> str:
        if not isinstance(expires_in, int) or expires_in <= 0:
            raise InvalidInput("expires_in", f"must be a positive number of seconds, not {expires_in!r}")
        if not self.exists(bucket, key):
            raise NotFound(f"no object {key!r} in bucket {bucket!r}")
        expires = int(self._clock()) + expires_in
        signature = self._sign(bucket, key, expires)
        where = f"{self.public_url}{OBJECTS_PATH}{bucket}/{quote(key, safe='/')}"
        return f"{where}?expires={expires}&signature={signature}"

    def verify(self, url: str, now: float | None = None) -> tuple[str, str]:
        """The (bucket, key) a signed URL names; InvalidInput("url", ...) if malformed, SignatureMismatch if
        tampered, UrlExpired if expired."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if parts.scheme == SCHEME and parts.netloc:
            bucket, key = parts.netloc, unquote(parts.path.lstrip("/"))
        elif parts.scheme in ("http", "https") and parts.path.startswith(OBJECTS_PATH):
            bucket, _, key = unquote(parts.path.removeprefix(OBJECTS_PATH)).partition("/")
        else:
            raise InvalidInput("url", f"is not a signed URL of this studio ({OBJECTS_PATH}...)")
        expires, signature = query.get("expires"), query.get("signature")
        if not expires or not signature:
            raise InvalidInput("url", "lacks expires and signature")
        return self.check(bucket, key, expires[0], signature[0], now)

    def check(
        self, bucket: str, key: str, expires: str, signature: str, now: float | None = None
    ) -> tuple[str, str]:
        """(bucket, key) when `signature` signs them with `expires` and that moment has not passed."""
        try:
            check_bucket(bucket)
            check_key(key)
            expiry = int(expires)
        except (InvalidInput, ValueError):
            raise InvalidInput("url", "names no valid object or expiry") from None
        if not hmac.compare_digest(self._sign(bucket, key, expiry), signature):
            raise SignatureMismatch("url", "signature does not match")
        if (self._clock() if now is None else now) >= expiry:
            raise UrlExpired("url", f"expired at {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(expiry))}")
        return bucket, key

    def open_signed(self, url: str, now: float | None = None) -> bytes:
        """The bytes a valid signed URL names."""
        return self.get(*self.verify(url, now))

    def _sign(self, bucket: str, key: str, expires: int) -> str:
        message = f"{bucket}\n{key}\n{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def _path(self, bucket: str, key: str) -> Path:
        return self.root / check_bucket(bucket) / check_key(key)

    def _type_path(self, bucket: str, key: str) -> Path:
        return self.root / _CONTENT_TYPES / check_bucket(bucket) / check_key(key)

    def _write(self, path: Path, data: bytes) -> None:
        write_private(path, data, durable=self._durable)

    def _prune(self, directory: Path) -> None:
        """Remove folders emptied by a delete, up to the bucket, so listings never show empty folders."""
        while (
            directory.parent != self.root
            and directory != self.root
            and directory.parent.name != _CONTENT_TYPES
        ):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
