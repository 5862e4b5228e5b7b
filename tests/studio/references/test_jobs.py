"""Reference jobs as queued, claimable work, and the runner that drains them."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from sqlalchemy import select

from studio.errors import InvalidInput, StudioError
from studio.plans.scene_plan import ScenePlan, load_plan
from studio.records.paid_calls import PaidCallRow
from studio.references import jobs
from studio.references.gallery import job_progress
from studio.references.planning import ReferenceOverride, plan_references
from studio.services import Services
from studio.work.runner import BackgroundRunner, drain
from tests.conftest import PLANS_DIR
from tests.fakes import ScriptedGenerator, retryable
from tests.studio.work.leases import claim, work_of
from tests.studio.written import unsigned


@pytest.fixture
def plan() -> ScenePlan:
    return load_plan(PLANS_DIR / "music-video.json")


def test_submitted_job_is_run_by_drain(services: Services, plan: ScenePlan) -> None:
    job_id = jobs.submit(services, plan, duration_seconds=120)
    assert services.records.jobs.get(job_id).status == "queued"  # type: ignore[union-attr]
    assert asyncio.run(drain(services)) == 1
    job = services.records.jobs.get(job_id)
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
    first = claim(services, "me:1:a")
    assert first is not None and first.lease.subject == str(plan.job_id)
    assert claim(services, "other:2:b") is None


def test_a_second_generate_follows_the_first_and_pays_nothing(services: Services, plan: ScenePlan) -> None:
    fake = ScriptedGenerator(latency=0.05)
    services = dataclasses.replace(services, generator=fake)
    seen: list[str] = []

    async def both() -> list[jobs.Generated]:
        first = asyncio.create_task(jobs.generate(services, plan))
        await asyncio.wait_for(fake.called.wait(), 10)
        second = asyncio.create_task(jobs.generate(services, plan, on_event=lambda e: seen.append(e.type)))
        return list(await asyncio.gather(first, second))

    ran, followed = asyncio.run(both())
    assert not ran.followed and followed.followed
    assert (ran.status, followed.status) == ("success", "success")
    assert followed.result is not None and ran.result is not None
    documents = [unsigned(result.model_dump(mode="json")) for result in (followed.result, ran.result)]
    assert documents[0] == documents[1], "the follower returns the run's own result"
    assert sorted(r.label for r in fake.history) == sorted(p.ref for p in plan_references(plan, fake))
    assert "reference_generation_complete" in seen, "the follower shows the run's progress"


def test_a_follower_with_another_plan_runs_it_after_the_current_run(
    services: Services, plan: ScenePlan
) -> None:
    fake = ScriptedGenerator(latency=0.05)
    services = dataclasses.replace(services, generator=fake)
    edited = plan.model_copy(deep=True)
    edited.scenes[0].description = "a different alley at noon"

    async def both() -> list[jobs.Generated]:
        first = asyncio.create_task(jobs.generate(services, plan))
        await asyncio.wait_for(fake.called.wait(), 10)
        return list(await asyncio.gather(first, jobs.generate(services, edited)))

    first, second = asyncio.run(both())
    assert first.status == second.status == "success"
    assert second.result is not None and second.result != first.result
    alley = [r.prompt for r in fake.history if r.label == f"scene_{plan.scenes[0].id}"]
    assert len(alley) == 2 and "different alley" in alley[1]
    reused = [r for r in second.result.scene_references + second.result.character_references if r.reused]
    assert len(reused) == 5, "the rest of the plan is unchanged: reused at $0"


def test_a_job_whose_holder_stopped_renewing_is_taken_over(services: Services, plan: ScenePlan) -> None:
    fake = ScriptedGenerator()
    services = dataclasses.replace(services, generator=fake)
    jobs.submit(services, plan)
    dead = claim(services, "gone-host:7:x", 0.3, work_id=work_of(services, str(plan.job_id)))
    assert dead is not None
    generated = asyncio.run(jobs.generate(services, plan))
    assert generated.status == "success" and generated.followed, "it waited for the lease, then took over"
    job = services.records.jobs.get(str(plan.job_id))
    assert job is not None and job.status == "success" and job.lease_epoch == dead.lease.epoch + 1
    assert asyncio.run(services.records.work.renew(dead.lease, 30)) == (False, False), (
        "the old holder lost it"
    )


def test_cancel_a_queued_job(services: Services, plan: ScenePlan) -> None:
    job_id = jobs.submit(services, plan)
    assert jobs.cancel(services, job_id) == "cancelled"
    assert asyncio.run(drain(services)) == 0
    progress = job_progress(services, job_id)
    assert progress is not None and progress.status == "cancelled"
    planned = len(plan.scenes) + len(plan.characters)
    assert (progress.cancelled, progress.counts.get("waiting"), progress.in_flight) == (planned, 0, 0)
    assert {(r.status, r.error) for r in progress.references} == {("cancelled", "cancelled by you")}
    assert len({r.ref for r in progress.references}) == planned


def cancelled_once_called(services: Services, fake: ScriptedGenerator, job_id: str) -> None:
    """Run the queue; cancel the job the moment the generator is first called; the run ends within 10 s
    (long before any hold of the provider's, or a cancel's grace, runs out)."""

    async def scenario() -> None:
        running = asyncio.create_task(drain(services))
        await asyncio.wait_for(fake.called.wait(), 10)
        assert jobs.cancel(services, job_id) == "cancelling"
        await asyncio.wait_for(running, 10)

    asyncio.run(scenario())


def test_cancel_a_running_job_stops_new_images(services: Services, plan: ScenePlan) -> None:
    fake = ScriptedGenerator(latency=0.1)
    services = dataclasses.replace(services, generator=fake)
    cancelled_once_called(services, fake, jobs.submit(services, plan, concurrency=1))
    job_id = str(plan.job_id)
    assert len(fake.history) < 6
    job = services.records.jobs.get(job_id)
    assert job is not None and job.status == "cancelled"
    statuses = {row.status for row in services.records.references.of_job(job_id).values()}
    assert "cancelled" in statuses
    progress = job_progress(services, job_id)
    assert progress is not None and progress.stored + progress.cancelled == progress.total
    assert progress.in_flight == 0
    assert not progress.counts.get("queued") and not progress.counts.get("waiting"), "nothing is queued"


def test_a_cancel_ends_the_waits_for_the_providers_rate_limit_and_starts_nothing(
    services: Services, plan: ScenePlan
) -> None:
    held = retryable("rate_limited", retry_after=60.0)  # each image's first call: held for a minute
    fake = ScriptedGenerator(fail_when=lambda request: held if fake.calls_for(request.label) == 1 else None)
    services = dataclasses.replace(services, generator=fake)
    job_id = jobs.submit(services, plan, concurrency=6)
    cancelled_once_called(services, fake, job_id)
    job = services.records.jobs.get(job_id)
    assert job is not None and job.status == "cancelled"
    assert {row.status for row in services.records.references.of_job(job_id).values()} == {"cancelled"}
    assert all(fake.calls_for(ref) <= 1 for ref in {r.label for r in fake.history}), "nothing went again"
    with services.records.db.read() as s:
        states = {row.state for row in s.scalars(select(PaidCallRow))}
    assert states <= {"dropped"}, "every waiting call gave its reservation back"


def test_a_running_job_cannot_be_submitted_again(services: Services, plan: ScenePlan) -> None:
    jobs.submit(services, plan)
    assert claim(services, "me:1:a") is not None
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
        while services.records.jobs.get(job_id).status != "success":  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the runner did not finish the job"
            time.sleep(0.05)
    finally:
        runner.stop()
    assert not runner.alive
