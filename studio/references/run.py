"""The handler of reference jobs: every scene and character of a plan, concurrently, each stored the moment
it arrives, by the process holding the job's lease (studio.work.queue).

Fixes the seed's defects: atomic budget reservation, classified retries with backoff, per-image upload,
seeded and resumable requests, wall-clock totals. A takeover adopts what its predecessor paid for instead of
paying again (studio.costs.paid_calls); a cancel, seen by the holder or by whoever takes the job over,
starts nothing new.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from decimal import Decimal
from typing import Any, Literal

from pydantic import TypeAdapter
from sqlalchemy import update
from sqlalchemy.orm import Session

from studio.characters.character_models import lead_conditioning
from studio.characters.priority import primary_image
from studio.costs.paid_calls import Account, PaidCalls, Prepared, Purchase
from studio.errors import Unavailable
from studio.generation.base import Settled
from studio.money import from_nanos
from studio.plans.scene_plan import ScenePlan
from studio.records.jobs import Job, JobStatus
from studio.records.ledger import LedgerEntry
from studio.records.references import ReferenceStatus
from studio.records.schema import JobRow, ReferenceRow, as_utc, utcnow
from studio.records.work import Lease, WorkKind, WorkStatus, finish_in
from studio.references.events import EventSink, FailureReason
from studio.references.outcome import CANCELLED_BY_YOU, Outcome, build_result, partial_success
from studio.references.planning import PlannedReference, ReferenceOverride, plan_references
from studio.references.result import ReferenceImages
from studio.references.task import JobRun, failed, keep, pay
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET
from studio.work.queue import Ended, Run, handles

log = logging.getLogger("studio.references")
OVERRIDES = TypeAdapter(dict[str, ReferenceOverride])
CANCEL_GRACE_SECONDS = 15.0
"""How long a cancelled job waits for its cancelled calls to report what they cost."""
STORED = ReferenceStatus.STORED


async def fail_job(services: Services, lease: Lease, reason: str) -> bool:
    """The job could not be run: it ends `failed` with the reason, its work failed."""

    def op(s: Session) -> bool:
        if not finish_in(s, lease, WorkStatus.FAILED, reason):
            return False
        s.execute(
            update(JobRow)
            .where(JobRow.id == lease.subject)
            .values(outcome=JobStatus.FAILED, failure_reason=reason[:64], completed_at=utcnow())
        )
        return True

    return await services.records.db.run(op)


@handles(WorkKind.REFERENCES, fail=fail_job)
async def run_references(run: Run) -> Ended:
    """Run a claimed reference job to its end. `run.stop` hands it back to the queue (a worker stopping)."""
    services, lease = run.services, run.lease
    records = services.records
    wall_start = time.perf_counter()
    job = await records.jobs.aget(lease.subject)
    assert job is not None
    existing = await records.references.aof_job(job.id)
    plan = ScenePlan.model_validate_json(job.plan_json)
    lead = await asyncio.to_thread(primary_image, services, job.song_id) if job.song_id else None
    lead_model, lead_references = await asyncio.to_thread(lead_conditioning, services, job.song_id)
    planned = plan_references(
        plan, services.generator, OVERRIDES.validate_json(job.overrides_json or "{}"), lead, lead_model,
        lead_references,
    )  # fmt: skip
    emit = EventSink(records, job.id, run.on_event)
    stored = any(row.status == STORED for row in existing.values())
    done = await asyncio.to_thread(_already_stored, services, planned, existing) if stored else set()
    submitted = as_utc(job.started_at) if job.started_at else None
    reused = [
        p
        for p in planned
        if p.ref in done and (submitted is None or as_utc(existing[p.ref].updated_at) < submitted)
    ]
    earlier = [p for p in planned if p.ref in done and p not in reused]
    todo = [p for p in planned if p.ref not in done]
    records.db.post(
        records.references.prepare_op(
            lease, [_queued_row(services, p) for p in todo], refs=[p.ref for p in planned]
        )
    )
    records.db.post(
        records.jobs.describe_op(lease, services.generator.name, services.generator.model_version)
    )
    emit(
        "stage_update",
        stage="reference_generation",
        status="started",
        total_images=len(planned),
        taken_over=lease.taken_over_from is not None,
    )
    paid = PaidCalls(run, Account("generation", job_id=job.id))
    paid.waited.told = lambda ref, seconds: emit(
        "reference_generation_waiting",
        ref=ref,
        reason="rate_limited",
        wait_seconds=round(seconds, 1),
        until=round(time.time() + seconds, 3),
    )
    job_run = JobRun(
        run, emit, paid, total=len(todo), versions={ref: row.version for ref, row in existing.items()}
    )
    outcomes = {o.planned.ref: o for o in _reuse(job_run, reused, existing, _delivered(job))}
    outcomes.update({p.ref: _made_earlier(p, existing[p.ref]) for p in earlier})
    requests = {p.ref: p.request for p in todo}
    await paid.take_over(requests)
    ended = await _work(job_run, todo, job.concurrency, run)
    if ended == "lost":
        return Ended.LOST
    if ended == "stopped":
        await records.work.hand_back(lease)
        log.info("job %s handed back: this process is stopping", job.id)
        return Ended.HANDED_BACK
    await paid.settle_leftovers(requests)
    outcomes.update(job_run.outcomes)
    return await _finish(job_run, job, planned, outcomes, time.perf_counter() - wall_start)


async def _work(
    job: JobRun, todo: list[PlannedReference], concurrency: int, run: Run
) -> Literal["done", "lost", "stopped", "cancelled"]:
    """Keep `concurrency` calls in flight until every reference is done, or the run must end early."""
    paid = job.paid
    queue = deque(sorted(todo, key=lambda p: p.ref not in paid.adoptable))
    tasks: set[asyncio.Task[None]] = set()
    broken: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    def watch(task: asyncio.Task[None]) -> None:
        """The database or storage failing in any task stops the whole run (it is handed back)."""
        tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None and not broken.done():
            broken.set_result(error)

    async def keep_one(planned: PlannedReference, settled: Settled, purchase: Purchase) -> None:
        try:
            outcome = await keep(job, planned, settled, purchase)
        except Unavailable:
            raise
        except Exception as error:  # a bug fails the reference, not the job
            log.exception("storing %s of job %s failed unexpectedly", planned.ref, job.job_id)
            outcome = failed(job, planned, error, purchase, 0.0)
        if outcome is not None:
            job.outcomes[planned.ref] = outcome

    async def slot() -> None:
        """One paid call at a time, the next one recorded while this one runs, so that it goes out the
        moment this one settles; fetching and storing go on in tasks of their own."""
        upcoming: tuple[PlannedReference, Prepared | None] | None = None
        while upcoming is not None or queue:
            planned, prepared = upcoming or (queue.popleft(), None)
            upcoming = None
            if paid.cancelling and not paid.adoptable.get(planned.ref):
                if prepared is not None:
                    await paid.discard(prepared)
                job.outcomes[planned.ref] = _cancelled(job, planned)
                continue
            if queue and not paid.cancelling:
                following = queue.popleft()
                upcoming = (following, paid.prepare(following.ref, following.request, concurrency))
            paid_for = await pay(job, planned, prepared)
            if isinstance(paid_for, Outcome):
                job.outcomes[planned.ref] = paid_for
                continue
            task = asyncio.create_task(keep_one(planned, *paid_for))
            tasks.add(task)
            task.add_done_callback(watch)

    slots: list[asyncio.Task[None]] = []

    async def everything() -> None:
        slots.extend(asyncio.create_task(slot()) for _ in range(concurrency))
        await asyncio.gather(*slots)
        while tasks:
            await asyncio.gather(*list(tasks))

    heartbeat = run.heartbeat
    if run.cancel_requested:
        heartbeat.cancelled.set()
    work = asyncio.ensure_future(everything())
    watched: dict[asyncio.Future[Any], str] = {
        asyncio.ensure_future(heartbeat.lost.wait()): "lost",
        asyncio.ensure_future(heartbeat.cancelled.wait()): "cancelled",
        broken: "broken",
    }
    if run.stop is not None:
        watched[asyncio.ensure_future(run.stop.wait())] = "stopped"
    try:
        done, _ = await asyncio.wait({work, *watched}, return_when=asyncio.FIRST_COMPLETED)
        if work in done and work.exception() is None:
            return "done"
        reason = next((why for waiter, why in watched.items() if waiter in done), "broken")
        if reason == "cancelled":
            await _cancel(job, queue, work, tasks)
            return "cancelled"
        for task in [work, *slots, *tasks]:
            task.cancel()
        await asyncio.gather(work, *slots, *tasks, return_exceptions=True)
        if reason == "broken":
            raise broken.result() if broken.done() else work.exception()  # type: ignore[misc]
        return reason  # type: ignore[return-value]
    finally:
        for waiter in watched:
            waiter.cancel()


async def _cancel(
    job: JobRun, queue: deque[PlannedReference], work: asyncio.Future[None], tasks: set[asyncio.Task[None]]
) -> None:
    """Start nothing more; ask the provider to stop what is in flight, so each call ends `canceled` and its
    cost is ledgered; what never started is marked cancelled. Stored images are kept."""
    await job.paid.cancel_in_flight()
    try:
        await asyncio.wait_for(asyncio.shield(work), CANCEL_GRACE_SECONDS)
    except TimeoutError:
        work.cancel()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(work, *tasks, return_exceptions=True)
    for planned in queue:
        job.outcomes[planned.ref] = _cancelled(job, planned)
    queue.clear()


def _cancelled(job: JobRun, planned: PlannedReference) -> Outcome:
    """A reference the cancel stopped before its call started."""
    records = job.services.records
    records.db.post(
        records.references.update_for(
            job.run.lease, planned.ref, status=ReferenceStatus.CANCELLED, error=CANCELLED_BY_YOU
        )
    )
    return Outcome(planned, ReferenceStatus.CANCELLED, error=CANCELLED_BY_YOU)


def _already_stored(
    services: Services, planned: list[PlannedReference], existing: dict[str, ReferenceRow]
) -> set[str]:
    """References stored with identical parameters whose image is still in storage as it was stored; one
    that went missing or changed is generated again."""
    from studio.storage.intact import damaged

    candidates = [
        p
        for p in planned
        if (row := existing.get(p.ref)) is not None
        and row.status == STORED
        and row.params_hash == p.params_hash
    ]
    broken = damaged(services, REFERENCE_BUCKET, [p.storage_key for p in candidates])
    for p in candidates:
        if p.storage_key in broken:
            log.warning("%s: its stored image %s; generating it again", p.ref, broken[p.storage_key])
    return {p.ref for p in candidates if p.storage_key not in broken}


def _queued_row(services: Services, planned: PlannedReference) -> dict[str, object]:
    import json

    return {
        "ref": planned.ref,
        "kind": planned.kind,
        "subject_id": planned.subject_id,
        "prompt": planned.request.prompt,
        "negative_prompt": planned.request.negative_prompt,
        "seed": planned.request.seed,
        "parameters_json": json.dumps(planned.parameters, sort_keys=True),
        "params_hash": planned.params_hash,
        "storage_key": planned.storage_key,
        "status": ReferenceStatus.QUEUED,
        "attempts": 0,
        "error": None,
        "failure_reason": None,
        "provider": services.generator.name,
        "model_version": services.generator.model_version,
    }


def _made_earlier(planned: PlannedReference, row: ReferenceRow) -> Outcome:
    """Stored for this request by an earlier holder of the job (which then stopped): it counts as made."""
    return Outcome(planned, STORED, generation_time=row.generation_time, cost=from_nanos(row.cost_nanos))


def _delivered(job: Job) -> set[str]:
    """The storage keys the job's last ended run handed over: keeping those saves nothing (regenerating one
    image of a finished job keeps the others, it does not buy them again)."""
    if not job.result_json:
        return set()
    result = ReferenceImages.model_validate_json(job.result_json)
    return {r.storage_key for r in [*result.scene_references, *result.character_references]}


def _reuse(
    job: JobRun, planned: list[PlannedReference], existing: dict[str, ReferenceRow], delivered: set[str]
) -> list[Outcome]:
    """References stored by an earlier run: no request, no cost. The ledger notes what each saved, at what
    it cost when made, when this run would otherwise have made it (an interrupted run resumed), not when
    an earlier run already handed it over."""
    generator = job.services.generator
    entries = []
    for p in planned:
        job.emit("reference_generation_complete", ref=p.ref, reused=True, cost="0", generation_time=0.0)
        if p.storage_key in delivered:
            continue
        saved = from_nanos(existing[p.ref].cost_nanos)
        entries.append(
            LedgerEntry(
                job_id=job.job_id,
                stage="generation",
                provider=generator.name,
                model=generator.model_version,
                ref=p.ref,
                amount=Decimal("0"),
                cache_hit=True,
                saved=saved,
            )
        )
    if entries:
        from studio.records.paid_calls import charge_in

        job.services.records.db.post(lambda s: [charge_in(s, entry) for entry in entries])
    return [Outcome(p, STORED, reused=True) for p in planned]


async def _finish(
    job: JobRun, row: Job, planned: list[PlannedReference], outcomes: dict[str, Outcome], wall: float
) -> Ended:
    """Judge the whole job, record how it ended for this lease, and report it."""
    services = job.services
    ordered = [
        outcomes.get(p.ref) or Outcome(p, ReferenceStatus.FAILED, error="not generated") for p in planned
    ]
    stored = [o for o in ordered if o.status == STORED]
    waited = job.paid.waited.seconds
    result = await asyncio.to_thread(build_result, services, job.job_id, ordered, wall, waited)  # signs URLs
    cancelled = job.paid.cancelling
    reason: FailureReason | None = None
    if cancelled:  # by request: what is stored is kept, nothing is called a failure
        status = JobStatus.CANCELLED
        result = result.model_copy(update={"status": "partial" if stored else "failed"})
    elif partial_success(ordered):
        status = JobStatus.SUCCESS if len(stored) == len(ordered) else JobStatus.PARTIAL
    else:
        budget = any(o.budget_refused for o in ordered)
        reason = "budget_exceeded" if budget else "threshold_not_met" if stored else "no_generation_results"
        status = JobStatus.FAILED
        result = result.model_copy(update={"status": "failed"})
    await job.paid.flushed()  # the charges and events queued so far land before the job ends
    if not await services.records.jobs.finish(job.run.lease, status, result.model_dump_json(), reason):
        return Ended.LOST
    job.emit(
        "stage_update",
        stage="reference_generation",
        status="cancelled" if cancelled else "failed" if reason else "completed",
        result=status,
        reason=reason,
        stored=len(stored),
        total_images=len(ordered),
        total_cost=str(result.total_cost),
        wall_seconds=round(wall, 3),
        rate_limit_wait_seconds=round(waited, 3),
    )
    await job.paid.flushed()
    return Ended.DONE
