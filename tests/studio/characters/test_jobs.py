"""The job queue: claims, leases, crash recovery, foreground runs and the shared background runner."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import timedelta

from sqlalchemy import update

from studio.characters.jobs import MAX_ATTEMPTS, generate_now, run_next, run_pending
from studio.characters.songs import upload_character_image
from studio.records.schema import utcnow
from studio.records.songs import CharacterJobRow
from studio.services import Services
from studio.work.runner import BackgroundRunner, drain
from tests.fakes import ScriptedGenerator
from tests.studio.characters import samples
from tests.studio.characters.conftest import song


def _crash_while_running(services: Services, attempts: int = 1) -> str:
    """A job a worker claimed and then died on: still `running`, its lease run out."""
    claimed = services.records.songs.claim("dead:1:x", 60)
    assert claimed is not None
    _, job = claimed
    with services.records.db.write() as s:
        s.execute(
            update(CharacterJobRow)
            .where(CharacterJobRow.id == job.id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1), attempts=attempts)
        )
    return job.id


def test_a_claim_is_taken_once(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    store = services.records.songs
    first = store.claim("me:1:a", 60)
    assert first is not None
    lease, job = first
    assert job.status == "running" and job.attempts == 1 and job.lease_owner == "me:1:a" and lease.epoch == 1
    assert store.claim("other:2:b", 60) is None


def test_a_job_left_running_by_a_crash_is_picked_up_again(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    job_id = _crash_while_running(services)
    [result] = asyncio.run(run_pending(services))
    assert (result.job_id, result.status, result.attempts) == (job_id, "completed", 2)
    assert song(services).character_generated_key is not None


def test_liveness_is_the_lease_expiry_only(services: Services) -> None:
    """A holder that vanished keeps its job until the lease runs out; then the next claim takes it over."""
    upload_character_image(services, "demo-song", samples.png())
    store = services.records.songs
    first = store.claim("vanished-host:4242:gone", 3600)
    assert first is not None
    assert store.claim("me:1:a", 60) is None
    with services.records.db.write() as s:
        s.execute(update(CharacterJobRow).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    taken = store.claim("me:1:a", 60)
    assert taken is not None and taken[1].id == first[1].id and taken[1].attempts == 2
    assert taken[0].taken_over_from == "vanished-host:4242:gone"
    assert not store.finish(first[0], "completed"), "the vanished holder can no longer finish it"


def test_a_running_job_with_a_live_lease_is_left_alone(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    assert services.records.songs.claim("other:2:b", 60) is not None
    assert asyncio.run(run_pending(services)) == []


def test_a_job_that_keeps_crashing_is_failed_not_retried_forever(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    job_id = _crash_while_running(services, attempts=MAX_ATTEMPTS)
    [result] = asyncio.run(run_pending(services))
    assert result.status == "failed" and "gave up after 3 attempts" in result.reason
    assert services.records.songs.job(job_id).status == "failed"  # type: ignore[union-attr]


def test_the_lease_is_renewed_while_the_job_runs(services: Services) -> None:
    short = services.settings.model_copy(update={"lease_seconds": 0.3})
    slow = dataclasses.replace(services, generator=ScriptedGenerator(latency=0.6), settings=short)
    upload_character_image(slow, "demo-song", samples.png())
    store = services.records.songs

    async def scenario() -> tuple[object, object]:
        async def steal() -> object:
            await asyncio.sleep(0.45)  # past the first lease of 0.3 s
            return await asyncio.to_thread(store.claim, "thief:3:c", 0.3)

        return await asyncio.gather(run_pending(slow), steal())

    results, stolen = asyncio.run(scenario())
    assert stolen is None
    assert [r.status for r in results] == ["completed"]  # type: ignore[attr-defined]


def test_generate_now_runs_the_queued_job_then_fresh_ones(services: Services) -> None:
    upload = upload_character_image(services, "demo-song", samples.png())
    first = asyncio.run(generate_now(services, "demo-song"))
    assert first.job_id == upload.job_id and first.status == "completed"
    second = asyncio.run(generate_now(services, "demo-song"))
    assert second.job_id != first.job_id and second.status == "completed"


def test_the_worker_step_and_drain_run_character_jobs(services: Services) -> None:
    assert asyncio.run(run_next(services)) is None
    upload_character_image(services, "demo-song", samples.png())
    upload_character_image(services, "other-song", samples.jpeg())
    assert asyncio.run(drain(services)) == 2
    assert [job.status for job in services.records.songs.jobs()] == ["completed", "completed"]


def test_the_background_runner_picks_up_an_upload(services: Services) -> None:
    runner = BackgroundRunner(services, poll_seconds=0.05).start()
    try:
        upload = upload_character_image(services, "demo-song", samples.png())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            job = services.records.songs.job(upload.job_id or "")
            if job is not None and job.status == "completed":
                break
            time.sleep(0.05)
        assert job is not None and job.status == "completed"
    finally:
        runner.stop()
    assert not runner.alive
