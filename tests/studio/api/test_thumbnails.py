"""The review board's thumbnails over HTTP: a signed same-origin URL that stays the same for a day, so the
browser caches it, and refuses a changed or an expired one."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from PIL import Image

from studio.references.thumbnail_urls import DAY, thumbnail_url
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET
from tests.studio.characters import samples


def test_a_thumbnail_url_serves_a_small_webp_the_browser_may_keep(
    services: Services, local: TestClient
) -> None:
    services.storage.put(REFERENCE_BUCKET, "job/scene_a.png", samples.png(), "image/png")
    url = thumbnail_url(services, "job/scene_a.png", "1:42:then")
    assert url.startswith("/api/v1/thumbnails/reference-images/job/scene_a.png?v=1%3A42%3Athen&expires=")
    assert thumbnail_url(services, "job/scene_a.png", "1:42:then") == url, "the same URL on every redraw"
    fetched = local.get(url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/webp"
    assert "max-age=86400" in fetched.headers["cache-control"]
    with Image.open(io.BytesIO(fetched.content)) as image:
        assert image.format == "WEBP" and max(image.size) <= 256
    changed = local.get(url.replace("v=1%3A42", "v=2%3A42"))
    assert changed.status_code == 403 and changed.json()["error"]["code"] == "signature_mismatch"
    old = thumbnail_url(services, "job/scene_a.png", "1:42:then", clock=lambda: 1_000_000.0)
    assert local.get(old).status_code == 410
    assert local.get(thumbnail_url(services, "job/gone.png", "1", clock=lambda: 10.0 * DAY)).status_code in (
        404,
        410,
    )
    gone = thumbnail_url(services, "job/gone.png", "1:1:now")
    assert local.get(gone).status_code == 404
