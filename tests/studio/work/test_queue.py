"""The work queue on its own: claims and leases, the heartbeat, following, giving up, handing back, and
run-now-or-follow. Each waits on events, not on the clock."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator

import pytest

from benchmarks.plans import synthetic_plan
from studio.characters.consistency import generate_now
from studio.characters.songs import upload_character_image
from studio.errors import StorageUnavailable
from studio.records.schema import as_utc
from studio.records.songs import ConsistencyStatus
from studio.records.work import OPEN, WorkRow, WorkStatus
from studio.references import jobs
from studio.services import Services
from studio.work import Heartbeat, LeaseLost, follow
from studio.work.queue import Ended, Interrupted, run_next, run_or_follow
from studio.work.runner import BackgroundRunner
from tests.fakes import FailingPuts, ScriptedGenerator
from tests.studio.characters import samples
from tests.studio.processes import stored, wait_for
from tests.studio.work.leases import claim, expire


@pytest.fixture
def queued(services: Services) -> Iterator[str]:
    """A consistency job queued by an upload: its work id."""
    upload = upload_character_image(services, "demo-song", samples.png())
    job = services.records.songs.job(upload.job_id or "")
    assert job is not None
    yield job.work_id


def test_work_is_claimed_once_and_a_live_lease_is_left_alone(services: Services, queued: str) -> None:
    first = claim(services, "me:1:a")
    assert first is not None and first.lease.id == queued and first.lease.epoch == 1
    assert first.work.status == "running" and first.work.attempts == 1
    assert claim(services, "other:2:b") is None
    assert asyncio.run(run_next(services)) is None, "a worker finds nothing to do"


def test_an_expired_lease_is_taken_over_and_fences_its_old_holder(services: Services, queued: str) -> None:
    first = claim(services, "vanished-host:4242:gone", 3600)
    assert first is not None
    expire(services, queued)
    taken = claim(services, "me:1:a")
    assert taken is not None and taken.lease.epoch == 2 and taken.work.attempts == 2
    assert taken.lease.taken_over_from == "vanished-host:4242:gone"
    records = services.records
    assert asyncio.run(records.work.renew(first.lease, 30)) == (False, False)
    assert not asyncio.run(records.work.finish(first.lease, WorkStatus.DONE)), "the old holder ends nothing"
    assert asyncio.run(records.work.finish(taken.lease, WorkStatus.DONE))


def test_a_hand_back_queues_the_work_again_without_using_an_attempt(services: Services, queued: str) -> None:
    first = claim(services, "me:1:a")
    assert first is not None and asyncio.run(services.records.work.hand_back(first.lease))
    work = services.records.work.get(queued)
    assert work is not None and (work.status, work.attempts, work.lease_owner) == ("queued", 0, None)
    again = claim(services, "other:2:b")
    assert again is not None and again.work.attempts == 1 and again.lease.epoch == 2


def test_work_claimed_too_often_is_failed_not_retried_forever(services: Services, queued: str) -> None:
    assert claim(services, "dead:1:x") is not None
    expire(services, queued, attempts=3)
    assert asyncio.run(run_next(services)) is Ended.FAILED
    work = services.records.work.get(queued)
    assert work is not None and work.status == "failed" and "gave up after 3 attempts" in (work.error or "")
    [job] = services.records.songs.jobs("demo-song")
    assert job.status == ConsistencyStatus.FAILED and "gave up after 3 attempts" in (job.error or "")


def test_a_cancel_ends_queued_work_at_once_and_asks_running_work(services: Services, queued: str) -> None:
    cancelled = services.records.work.cancel(queued, "no longer wanted")
    assert cancelled is not None and cancelled.status == "cancelled" and cancelled.cancel_requested
    upload = upload_character_image(services, "other-song", samples.png())
    job = services.records.songs.job(upload.job_id or "")
    assert job is not None and claim(services, "me:1:a") is not None
    asking = services.records.work.cancel(job.work_id, "stop")
    assert asking is not None and asking.status == "running" and asking.cancel_requested


async def test_the_heartbeat_renews_reports_a_cancel_and_a_lost_lease() -> None:
    held, cancel, renewed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def beat(renew: bool) -> tuple[bool, bool]:
        if renew:
            renewed.set()
        return not held.is_set(), cancel.is_set()

    async with Heartbeat(beat, lease_seconds=0.06, poll_seconds=0.01) as heartbeat:
        cancel.set()
        await asyncio.wait_for(heartbeat.cancelled.wait(), 5)
        await asyncio.wait_for(renewed.wait(), 5)
        held.set()  # the beat now says the lease is no longer held
        await asyncio.wait_for(heartbeat.lost.wait(), 5)
        with pytest.raises(LeaseLost):
            await heartbeat.hold(asyncio.Event().wait())


async def test_a_heartbeat_waits_out_a_database_that_is_away() -> None:
    from studio.records.failures import RecordsUnavailable

    answers: list[object] = [RecordsUnavailable("away", "wait", passing=True), (True, False), (False, False)]

    async def beat(_renew: bool) -> tuple[bool, bool]:
        answer = answers.pop(0) if answers else (False, False)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    async with Heartbeat(beat, lease_seconds=0.06, poll_seconds=0.01) as heartbeat:
        await asyncio.wait_for(heartbeat.lost.wait(), 5)
    assert answers == [], "it went on beating after the database came back"


async def test_follow_ends_when_the_holder_stops_renewing() -> None:
    from datetime import timedelta

    from studio.records.schema import utcnow

    def running(until: timedelta) -> WorkRow:
        return WorkRow(id="w", kind="looks", subject="s", status="running", lease_expires_at=utcnow() + until)

    live, expired = running(timedelta(hours=1)), running(timedelta(seconds=-1))
    reads = [live, live, expired]
    polled: list[str] = []

    async def read() -> WorkRow | None:
        return reads.pop(0)

    async def on_poll(work: WorkRow) -> None:
        polled.append(work.status)

    found = await follow(read, poll_seconds=0, on_poll=on_poll)
    assert found is expired and polled == ["running"] * 3


async def test_run_or_follow_follows_a_live_holder_then_takes_over(services: Services, queued: str) -> None:
    dead = await services.records.work.claim("gone:7:x", 0.3, work_id=queued)
    assert dead is not None
    outcome = await run_or_follow(services, queued)
    assert outcome.ran and outcome.work.status == WorkStatus.DONE and outcome.work.lease_epoch == 2
    assert services.records.songs.jobs("demo-song")[0].status == ConsistencyStatus.COMPLETED


async def test_storage_that_fails_hands_the_work_back_and_says_so(services: Services, queued: str) -> None:
    error = StorageUnavailable("could not store r1-1.png: the disk holding /data is full", "free space")
    full = dataclasses.replace(services, storage=FailingPuts(services.storage, error))
    with pytest.raises(Interrupted, match="disk holding /data is full; the work went back to the queue"):
        await run_next(full)
    work = services.records.work.get(queued)
    assert work is not None and work.status == "queued" and work.attempts == 0
    assert await run_next(services) is Ended.DONE, "once storage works again, the work is done"


def test_the_background_runner_runs_what_is_queued(services: Services) -> None:
    slow = dataclasses.replace(services, generator=ScriptedGenerator(latency=0.01))
    runner = BackgroundRunner(slow, poll_seconds=0.05).start()
    try:
        upload = upload_character_image(services, "demo-song", samples.png())
        job = services.records.songs.job(upload.job_id or "")
        assert job is not None

        def ended() -> bool:
            work = services.records.work.get(job.work_id)
            return work is not None and work.status not in OPEN

        wait_for(ended, what="the runner to run the queued job")
        assert services.records.work.get(job.work_id).status == WorkStatus.DONE  # type: ignore[union-attr]
    finally:
        runner.stop()
    assert not runner.alive


class SlowPuts:
    """A Storage whose put of one key blocks until released (at most `limit` seconds); the rest is `inner`."""

    def __init__(self, inner: object, key_part: str, limit: float = 5.0) -> None:
        self.inner = inner
        self.key_part = key_part
        self.limit = limit
        self.blocked = threading.Event()
        self.release = threading.Event()

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        if self.key_part in key and not self.blocked.is_set():
            self.blocked.set()
            self.release.wait(self.limit)
        self.inner.put(bucket, key, data, content_type)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.mark.parametrize(
    "hanging", ["scene_scene0", "character_generated"], ids=["a reference", "a song's picked look"]
)
async def test_an_upload_that_hangs_holds_up_no_heartbeat_and_no_other_write(
    services: Services, hanging: str
) -> None:
    """Storing an image takes no transaction with it: while one upload hangs (a reference of the job, or
    the image a consistency job publishes beside it), the job's lease is renewed and its other references
    are stored and recorded."""
    upload_character_image(services, "demo-song", samples.png())
    plan = synthetic_plan(24, seed=61)
    slow = SlowPuts(services.storage, hanging)
    short = services.settings.model_copy(update={"lease_seconds": 0.6})
    generator = ScriptedGenerator(latency=0.1)  # the job runs longer than the song's one image
    studio = dataclasses.replace(services, storage=slow, settings=short, generator=generator)
    running = asyncio.create_task(jobs.generate(studio, plan, concurrency=2))
    character = asyncio.create_task(generate_now(studio, "demo-song"))
    await asyncio.to_thread(slow.blocked.wait, 10)
    job_id = str(plan.job_id)
    when_blocked = await services.records.jobs.aget(job_id)
    assert when_blocked is not None and when_blocked.lease_expires_at is not None, "the job is running"
    made_before = stored(services, job_id)

    def carried_on() -> bool:
        job = services.records.jobs.get(job_id)
        assert job is not None
        renewed = job.lease_expires_at is None or as_utc(job.lease_expires_at) > as_utc(
            when_blocked.lease_expires_at  # type: ignore[arg-type]
        )
        return renewed and stored(services, job_id) >= made_before + 4

    await asyncio.to_thread(wait_for, carried_on, 10, "renewals and more references stored")
    assert not slow.release.is_set(), "the upload was still hanging"
    slow.release.set()
    generated, made = await asyncio.gather(running, character)
    assert generated.status == "success" and made.status == "completed"
    job = await services.records.jobs.aget(job_id)
    assert job is not None and job.lease_epoch == 1, "the lease was never lost"
