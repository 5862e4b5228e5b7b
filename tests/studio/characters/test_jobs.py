"""Consistency jobs on the work queue: a crashed worker's job is taken over, the lease is renewed while it
runs, foreground runs and the worker's drain."""

from __future__ import annotations

import asyncio
import dataclasses

from studio.characters.consistency import generate_now
from studio.characters.songs import upload_character_image
from studio.records.work import WorkKind
from studio.services import Services
from studio.work.queue import run_next
from studio.work.runner import drain
from tests.fakes import ScriptedGenerator
from tests.studio.characters import samples
from tests.studio.characters.conftest import song
from tests.studio.work.leases import claim, expire


def test_a_job_left_running_by_a_crash_is_taken_over(services: Services) -> None:
    upload = upload_character_image(services, "demo-song", samples.png())
    dead = claim(services, "dead:1:x", kinds=(WorkKind.CONSISTENCY,))
    assert dead is not None
    expire(services, dead.lease.id)
    result = asyncio.run(generate_now(services, "demo-song"))
    assert (result.job_id, result.status, result.attempts) == (upload.job_id, "completed", 2)
    assert song(services).character_generated_key is not None


def test_the_lease_is_renewed_while_the_job_runs(services: Services) -> None:
    short = services.settings.model_copy(update={"lease_seconds": 0.3})
    generator = ScriptedGenerator(latency=0.6)
    slow = dataclasses.replace(services, generator=generator, settings=short)
    upload_character_image(slow, "demo-song", samples.png())

    async def scenario() -> tuple[object, object]:
        async def steal() -> object:
            await asyncio.wait_for(generator.called.wait(), 10)
            await asyncio.sleep(0.45)  # past the first lease of 0.3 s
            return await slow.records.work.claim("thief:3:c", 0.3)

        return await asyncio.gather(generate_now(slow, "demo-song"), steal())

    result, stolen = asyncio.run(scenario())
    assert stolen is None, "the heartbeat kept the lease"
    assert result.status == "completed"  # type: ignore[attr-defined]


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
