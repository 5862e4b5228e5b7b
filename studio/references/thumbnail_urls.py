"""Thumbnails as URLs the browser caches: `/api/v1/thumbnails/<bucket>/<key>?v=<content>&expires=&signature=`.

The signature (the studio's signing key) covers the object and its content, and the expiry is rounded to the
day, so a board drawn twice names the same URL and a fresh tab loads its thumbnails from the browser's cache.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote

from studio.backends import signing_key
from studio.references.gallery import thumbnail
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET
from studio.storage.local import SignatureMismatch, UrlExpired

THUMBNAILS_PATH = "/api/v1/thumbnails/"
DAY = 86_400
CACHE_SECONDS = DAY


def _sign(key: bytes, bucket: str, name: str, content: str, expires: int) -> str:
    message = f"thumbnail\n{bucket}\n{name}\n{content}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def thumbnail_url(
    services: Services,
    name: str,
    content: str,
    *,
    bucket: str = REFERENCE_BUCKET,
    clock: Callable[[], float] = time.time,
) -> str:
    """A same-origin URL of the thumbnail of `name` as it is now (`content` changes with its bytes), valid
    for one to two days."""
    expires = (int(clock()) // DAY + 2) * DAY
    signature = _sign(signing_key(services.settings), bucket, name, content, expires)
    query = f"v={quote(content, safe='')}&expires={expires}&signature={signature}"
    return f"{THUMBNAILS_PATH}{bucket}/{quote(name, safe='/')}?{query}"


def signed_thumbnail(
    services: Services,
    bucket: str,
    name: str,
    content: str,
    expires: int,
    signature: str,
    *,
    clock: Callable[[], float] = time.time,
) -> bytes:
    """The WebP thumbnail a signed URL names (made now if it was not yet); NotFound when the image is gone."""
    expected = _sign(signing_key(services.settings), bucket, name, content, expires)
    if not hmac.compare_digest(expected, signature):
        raise SignatureMismatch("url", "signature does not match")
    if clock() >= expires:
        raise UrlExpired("url", "has expired: reload the page")
    return thumbnail(services, name, bucket=bucket, content_id=content).data
