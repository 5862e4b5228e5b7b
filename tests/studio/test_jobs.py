"""Reference jobs as queued, claimable work, and the runner that drains them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from studio import jobs
from studio.errors import InvalidInput, StudioError
from studio.pipeline.run import _queued_row
from studio.plan import ScenePlan, load_plan
from studio.planning import ReferenceOverride, plan_references
from studio.records import leases
from studio.records.schema import JobRow, utcnow
from studio.services import Services
from studio.worker import BackgroundRunner, drain
from tests.conftest import PLANS_DIR
from tests.fakes import ScriptedGenerator


@pytest.fixture
def plan() -> ScenePlan:
    return load_plan(PLANS_DIR / "music-video.json")


def test_submitted_job_is_run_by_drain(services: Services, plan: ScenePlan) -> None:
    job_id = jobs.submit(services, plan, duration_seconds=120)
    assert services.records.get_job(job_id).status == "queued"  # type: ignore[union-attr]
    assert asyncio.run(drain(services)) == 1
    job = services.records.get_job(job_id)
    assert job is not None and job.status == "success" and job.lease_owner is None
    result = jobs.result_of(services, job_id)
    assert result is not None and result.total_references == 6
    assert asyncio.run(drain(services)) == 0


def test_overrides_reach_the_generator(services: Services, plan: ScenePlan) -> None:
    fake = ScriptedGenerator()
    services = dataclasses.replace(services, generator=fake)
    jobs.submit(services, plan, overrides={"scene_alley": ReferenceOverride(prompt="neon alley", seed=7)})
    asyncio.run(drain(services))
    alley = next(r for r in fake.history if r.label == "scene_alley")
    assert (alley.prompt, alley.seed) == ("neon alley", 7)
    assert jobs.job_overrides(services, str(plan.job_id))["scene_alley"].seed == 7


def test_a_job_is_claimed_once(services: Services, plan: ScenePlan) -> None:
    jobs.submit(services, plan)
    first = jobs.claim(services)
    assert first is not None and first.job_id == str(plan.job_id) and first.holds_lease
    assert jobs.claim(services) is None


def test_a_process_joins_another_process_job_once(services: Services, plan: ScenePlan) -> None:
    jobs.submit(services, plan)
    holder = jobs.claim(services)
    assert holder is not None and holder.holds_lease
    planned = plan_references(plan, services.generator)
    services.records.prepare_references(
        holder.job_id, [_queued_row(services, p) for p in planned], keep=[p.ref for p in planned]
    )
    assert jobs.claim(services) is None, "this process already runs the job"
    with services.records.session() as s:  # the holder was another process; this one may join it, once
        s.execute(update(JobRow).values(lease_owner="elsewhere:1:x"))
    services.records.running.discard(holder.job_id)  # as if this were a fresh process
    joined = jobs.claim(services)
    assert joined is not None and joined.job_id == holder.job_id and not joined.holds_lease
    assert jobs.claim(services) is None
    asyncio.run(jobs.run_claimed(services, joined))
    assert jobs.claim(services) is None, "finished: nothing left to join"


def test_a_job_whose_lease_expired_is_taken_over_and_resumed(services: Services, plan: ScenePlan) -> None:
    fake = ScriptedGenerator()
    services = dataclasses.replace(services, generator=fake)
    jobs.submit(services, plan)
    claimed = jobs.claim(services)
    assert claimed is not None
    assert jobs.claim(services) is None, "a live lease is respected"
    with services.records.session() as s:  # the owner crashed: its lease runs out
        s.execute(update(JobRow).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    services.records.running.clear()  # the claim below is another, live process's
    taken = jobs.claim(services)
    assert taken is not None and taken.owner != claimed.owner and taken.holds_lease
    asyncio.run(jobs.run_claimed(services, taken))
    assert services.records.get_job(str(plan.job_id)).status == "success"  # type: ignore[union-attr]
    assert not leases.extend_job_lease(services.records, taken.job_id, claimed.owner, 30), "old owner lost it"


def test_cancel_a_queued_job(services: Services, plan: ScenePlan) -> None:
    job_id = jobs.submit(services, plan)
    assert jobs.cancel(services, job_id) == "cancelled"
    assert asyncio.run(drain(services)) == 0


def test_cancel_a_running_job_stops_new_images(services: Services, plan: ScenePlan) -> None:
    fake = ScriptedGenerator(latency=0.1)
    services = dataclasses.replace(services, generator=fake)
    job_id = jobs.submit(services, plan, concurrency=1)

    async def scenario() -> None:
        running = asyncio.create_task(drain(services))
        await asyncio.wait_for(fake.called.wait(), 10)
        assert jobs.cancel(services, job_id) == "cancelling"
        await running

    asyncio.run(scenario())
    assert len(fake.history) < 6
    job = services.records.get_job(job_id)
    assert job is not None and job.status == "cancelled"
    statuses = {row.status for row in services.records.references(job_id).values()}
    assert "cancelled" in statuses


def test_a_running_job_cannot_be_submitted_again(services: Services, plan: ScenePlan) -> None:
    jobs.submit(services, plan)
    assert jobs.claim(services) is not None
    with pytest.raises(StudioError, match="already running"):
        jobs.submit(services, plan)


def test_submit_refuses_a_bad_duration(services: Services, plan: ScenePlan) -> None:
    with pytest.raises(InvalidInput, match="duration_seconds"):
        jobs.submit(services, plan, duration_seconds=0)


def test_background_runner_runs_jobs_and_stops(services: Services, plan: ScenePlan) -> None:
    runner = BackgroundRunner(services, poll_seconds=0.05).start()
    try:
        job_id = jobs.submit(services, plan)
        deadline = time.monotonic() + 30
        while services.records.get_job(job_id).status != "success":  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the runner did not finish the job"
            time.sleep(0.05)
    finally:
        runner.stop()
    assert not runner.alive
