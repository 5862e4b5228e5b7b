"""Local signed URLs fetched over HTTP (403 changed, 410 expired), and the seed's character routes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET
from studio.storage.local import LocalStorage
from tests.studio.api.conftest import client_for
from tests.studio.characters import samples


def test_a_signed_url_serves_its_bytes_and_refuses_a_changed_or_expired_one(services: Services) -> None:
    now = [1_800_000_000.0]
    assert isinstance(services.storage, LocalStorage)
    storage = LocalStorage(services.storage.root, b"k" * 32, clock=lambda: now[0])
    storage.put(REFERENCE_BUCKET, "job/scene_a.png", samples.png(), "image/png")
    url = urlsplit(storage.signed_url(REFERENCE_BUCKET, "job/scene_a.png", 60))
    assert (url.scheme, url.netloc) == ("http", "127.0.0.1:8501")
    path = f"{url.path}?{url.query}"
    with client_for(dataclasses.replace(services, storage=storage), "local") as client:
        fetched = client.get(path)
        assert fetched.status_code == 200 and fetched.content == samples.png()
        assert fetched.headers["content-type"] == "image/png"
        for changed in (
            path.replace("scene_a", "scene_b"),
            path[:-2] + "00",
            path.replace("expires=", "expires=9"),
        ):
            refused = client.get(changed)
            assert refused.status_code == 403, changed
            assert refused.json()["error"]["code"] == "signature_mismatch"
        now[0] += 61
        expired = client.get(path)
        assert expired.status_code == 410 and expired.json()["error"]["code"] == "expired"


def test_the_upload_route_queues_the_consistency_job(local: TestClient) -> None:
    uploaded = local.post(
        "/api/v1/songs/night-song/character-image",
        files={"image": ("me.png", samples.png(), "image/png")},
    )
    assert uploaded.status_code == 202, uploaded.text
    body = uploaded.json()
    assert (body["song_id"], body["pose"], body["content_type"]) == ("night-song", "A", "image/png")
    assert body["job_id"], "pose A queues the consistency job"
    pose_b = local.post(
        "/api/v1/songs/night-song/character-image",
        files={"image": ("b.png", samples.png(), "image/png")},
        data={"pose": "b"},
    )
    assert pose_b.status_code == 202 and pose_b.json()["job_id"] is None
    not_an_image = local.post(
        "/api/v1/songs/night-song/character-image", files={"image": ("x.png", b"plain text", "image/png")}
    )
    assert not_an_image.status_code == 422 and not_an_image.json()["error"]["field"] == "image"
    resolved = local.get("/api/v1/songs/night-song/character").json()
    assert resolved["song_id"] == "night-song" and resolved["images"][0]["source"] == "reference"


def test_a_template_is_applied_and_resolved(local: TestClient) -> None:
    assert local.get("/api/v1/songs/nobody/character").status_code == 404
    listed = local.get("/api/v1/template-characters").json()["templates"]
    applied = local.post(f"/api/v1/template-characters/{listed[1]['id']}/apply", json={"song_id": "demo"})
    assert applied.status_code == 200 and applied.json()["template_id"] == listed[1]["id"]
    unknown = local.post("/api/v1/template-characters/nope/apply", json={"song_id": "demo"})
    assert unknown.status_code in (404, 422) and "error" in unknown.json()
    assert local.get("/api/v1/songs/demo/character").json()["primary"]["source"] == "template pose-a"


def test_a_body_past_the_largest_upload_is_refused_before_it_is_read(local: TestClient) -> None:
    from studio.api.limits import MAX_BODY_BYTES

    too_large = local.post(
        "/api/v1/songs/night-song/character-image",
        files={"image": ("big.png", b"\0" * (MAX_BODY_BYTES + 1), "image/png")},
    )
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1_000_000 + 2):
            yield b"{" * 1_000_000

    chunked = local.post("/api/v1/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413


def test_objects_ask_no_key_in_team_mode(services: Services) -> None:
    assert isinstance(services.storage, LocalStorage)
    services.storage.put(REFERENCE_BUCKET, "job/scene_a.png", samples.png(), "image/png")
    url = urlsplit(services.storage.signed_url(REFERENCE_BUCKET, "job/scene_a.png", 60))
    with client_for(services, "team") as client:
        assert client.get(f"{url.path}?{url.query}").status_code == 200, "the signature is the authority"
        assert client.get("/api/v1/songs/x/character").status_code == 401
