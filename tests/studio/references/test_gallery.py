"""Thumbnails are small, cached on disk outside the bucket, and a retry only regenerates failures."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

from PIL import Image

from studio.generation.png_parameters import parse_parameters
from studio.references import jobs
from studio.references.gallery import job_progress, retry_failed, thumbnail, thumbnails
from studio.samples import load_sample
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET
from studio.work.runner import drain
from tests.fakes import ScriptedGenerator, fatal


def _generate(services: Services, name: str) -> str:
    job_id = jobs.submit(services, load_sample(name))
    asyncio.run(drain(services))
    return job_id


def test_a_32_image_gallery_ships_under_3_mb(services: Services) -> None:
    job_id = _generate(services, "road-trip-32")
    progress = job_progress(services, job_id)
    assert progress is not None and progress.stored == progress.total >= 32
    total = 0
    for reference in progress.references[:32]:
        thumb = thumbnail(services, reference.storage_key, content_id=reference.content_id)
        with Image.open(io.BytesIO(thumb.data)) as image:
            assert image.format == "WEBP" and max(image.size) <= 256
        total += len(thumb.data)
    assert total <= 3 * 1024 * 1024


def test_thumbnails_are_cached_in_the_data_dir_not_the_bucket(services: Services, data_dir: Path) -> None:
    job_id = _generate(services, "minimal")
    progress = job_progress(services, job_id)
    assert progress is not None
    reference = progress.references[0]
    keys_before = services.storage.list(REFERENCE_BUCKET)
    first = thumbnail(services, reference.storage_key, content_id=reference.content_id)
    cached = list((data_dir / "thumbnails").rglob("*.webp"))
    assert len(cached) == 1
    assert thumbnail(services, reference.storage_key, content_id=reference.content_id) == first
    assert services.storage.list(REFERENCE_BUCKET) == keys_before
    assert first.parameters is not None
    assert parse_parameters(first.parameters)["Seed"] == str(reference.seed)


def test_cached_thumbnails_are_private(services: Services, data_dir: Path) -> None:
    job_id = _generate(services, "minimal")
    progress = job_progress(services, job_id)
    assert progress is not None
    previous = os.umask(0o022)
    try:
        thumbnail(services, progress.references[0].storage_key, content_id=progress.references[0].content_id)
    finally:
        os.umask(previous)
    folder = data_dir / "thumbnails"
    made = [folder, *folder.rglob("*")]
    assert {path.suffix for path in made} == {"", ".webp", ".txt"}
    for path in made:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path


def test_retry_failed_only_regenerates_what_failed(services: Services) -> None:
    plan = load_sample("music-video")
    failing = ScriptedGenerator(fail_when=lambda r: fatal() if r.label == "scene_alley" else None)
    services.generator = failing
    job_id = jobs.submit(services, plan)
    asyncio.run(drain(services))
    progress = job_progress(services, job_id)
    assert progress is not None and progress.status == "partial" and progress.failed == 1
    healthy = ScriptedGenerator()
    services.generator = healthy
    retry_failed(services, job_id)
    asyncio.run(drain(services))
    progress = job_progress(services, job_id)
    assert progress is not None and progress.status == "success"
    assert [r.label for r in healthy.history] == ["scene_alley"]


def test_many_thumbnails_at_once_match_one_by_one_and_name_the_missing(services: Services) -> None:
    job_id = _generate(services, "minimal")
    progress = job_progress(services, job_id)
    assert progress is not None
    wanted = [(r.storage_key, r.content_id) for r in progress.references]
    services.storage.delete(REFERENCE_BUCKET, [wanted[0][0]])
    made = thumbnails(services, [*wanted, (f"{job_id}/scene_nowhere.png", None)])
    assert made[wanted[0][0]] is None and made[f"{job_id}/scene_nowhere.png"] is None
    for key, content_id in wanted[1:]:
        thumb = made[key]
        assert thumb is not None and thumb == thumbnail(services, key, content_id=content_id)
        assert max(thumb.width, thumb.height) <= 256


def test_a_job_waiting_for_the_providers_rate_limit_says_so_until_it_ends(services: Services) -> None:
    job_id = jobs.submit(services, load_sample("minimal"))
    now = time.time()
    wait = {"ref": "scene_rooftop", "reason": "rate_limited", "wait_seconds": 30.0, "until": now + 30}
    services.records.events.add(job_id, "reference_generation_waiting", wait)
    progress = job_progress(services, job_id)
    assert progress is not None and progress.active
    assert progress.rate_limit_wait(now) == 30.0
    assert progress.rate_limit_wait(now + 31) == 0.0, "a wait that is over is not shown"
    asyncio.run(drain(services))
    ended = job_progress(services, job_id)
    assert ended is not None and ended.rate_limit_wait(now) == 0.0, "an ended job waits for nothing"
