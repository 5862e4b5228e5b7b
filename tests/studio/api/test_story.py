"""The song's whole story against a live `make run`-style server (`streamlit run streamlit_app.py` on a free
127.0.0.1 port), with an HTTP client only: template, job, events until it ends, reviews, the manifest refused
while pending and for previews then allowed, every URL fetched, the upload route; then team mode's keys.

Prints the latency of `GET /api/v1/jobs/{id}` (median of 20) and of the first SSE event (not asserted:
speed lives in benchmarks/).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from benchmarks.app_start import free_port, start_studio, stop, wait_healthy
from tests.cli_runner import studio
from tests.studio.api.conftest import JOB, MINIMAL, events_of
from tests.studio.characters import samples

PNG = b"\x89PNG\r\n\x1a\n"
TEAM_SECRETS = """
[auth]
redirect_uri = "{url}/oauth2callback"
cookie_secret = "{secret}"
client_id = "studio"
client_secret = "not-used-here"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"

[studio.roles]
creator = ["cora@example.com"]
reviewer = ["rev@example.com"]
"""


@contextmanager
def live(data_dir: Path, monkeypatch: pytest.MonkeyPatch, port: int, *options: str) -> Iterator[httpx.Client]:
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("STUDIO_PUBLIC_URL", url)
    process = start_studio(data_dir, port, *options)
    try:
        wait_healthy(url, process, timeout=60)
        with httpx.Client(base_url=f"{url}/api/v1", timeout=30) as client:
            yield client
    finally:
        stop(process)


def test_the_song_story_over_http(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with live(data_dir, monkeypatch, free_port()) as api:
        validate(api.get("/openapi.json").json())

        templates = api.get("/template-characters").json()["templates"]
        applied = api.post(f"/template-characters/{templates[1]['id']}/apply", json={"song_id": "night-song"})
        assert applied.status_code == 200, applied.text
        queued = api.post("/jobs", json={"plan": MINIMAL, "song_id": "night-song"})
        assert queued.status_code == 202, queued.text

        asked = time.perf_counter()
        with api.stream("GET", f"/jobs/{JOB}/events") as stream:
            lines = stream.iter_lines()
            first = next(lines)
            first_event = time.perf_counter() - asked
            events = events_of(iter([first, *lines]))
        assert events[-1]["event"] == "stage_update" and events[-1]["data"]["status"] == "completed"
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            state = api.get(f"/jobs/{JOB}")
            timings.append(time.perf_counter() - started)
        assert state.json()["status"] == "success"

        pending = api.get(f"/jobs/{JOB}/manifest")
        assert pending.status_code == 409 and pending.json()["error"]["pending"] == [
            "scene_rooftop",
            "character_singer",
        ]
        for ref in ("scene_rooftop", "character_singer"):
            decided = api.post(f"/jobs/{JOB}/references/{ref}/review", json={"decision": "approve"})
            assert decided.status_code == 200, decided.text
        previews = api.get(f"/jobs/{JOB}/manifest")
        assert previews.status_code == 409 and previews.json()["error"]["code"] == "offline_preview"
        manifest = api.get(f"/jobs/{JOB}/manifest", params={"allow_preview": "true"}).json()
        assert manifest["song_id"] == "night-song" and all(r["preview"] for r in manifest["references"])

        urls = [r["url"] for r in manifest["references"]] + [
            i["url"] for i in manifest["character"]["images"]
        ]
        for url in urls:
            fetched = httpx.get(url)
            assert fetched.status_code == 200 and fetched.content.startswith(PNG), url
            assert fetched.headers["content-type"] == "image/png"
        tampered = httpx.get(urls[0].replace("scene_rooftop", "character_singer"))
        assert tampered.status_code == 403 and tampered.json()["error"]["code"] == "signature_mismatch"

        uploaded = api.post(
            "/songs/night-song/character-image", files={"image": ("me.png", samples.png(), "image/png")}
        )
        assert uploaded.status_code == 202 and uploaded.json()["job_id"], "pose A queues the consistency job"
    print(
        f"\nGET /api/v1/jobs/{{id}}: median {statistics.median(timings) * 1000:.1f} ms, "
        f"max {max(timings) * 1000:.1f} ms; first SSE event after {first_event * 1000:.1f} ms"
    )

    made = studio("api-key", "create", "planner", "--role", "creator", "--json")
    assert made.code == 0, made.stderr
    creator = {"Authorization": f"Bearer {json.loads(made.stdout)['key']}"}
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(TEAM_SECRETS.format(url=f"http://127.0.0.1:{port}", secret="s" * 40))
    with live(data_dir, monkeypatch, port, "--secrets.files", str(secrets)) as api:
        missing = api.get(f"/jobs/{JOB}")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthenticated"
        review = api.post(
            f"/jobs/{JOB}/references/scene_rooftop/review", json={"decision": "approve"}, headers=creator
        )
        assert review.status_code == 403 and review.json()["error"]["code"] == "forbidden"
