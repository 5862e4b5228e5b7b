"""Reference generation of one job by the process holding its lease: every scene and character,
concurrently, each stored the moment it arrives.

Fixes the seed's defects: atomic budget reservation, classified retries with backoff, per-image upload,
seeded and resumable requests, wall-clock totals. A takeover adopts the predictions its dead predecessor
paid for (recorded ids, else found by version, prompt and seed) instead of paying for them again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import TypeAdapter

from studio.characters.priority import primary_image
from studio.costs.budget import Budget
from studio.generation.base import Settled
from studio.money import from_nanos
from studio.plans.scene_plan import ScenePlan
from studio.records.jobs import Claimed
from studio.records.ledger import LedgerEntry
from studio.records.schema import PredictionRow, ReferenceRow, as_utc
from studio.references.events import EventHandler, EventSink, FailureReason
from studio.references.outcome import (
    CANCELLED,
    CANCELLED_BY_YOU,
    STORED,
    Outcome,
    build_result,
    partial_success,
)
from studio.references.planning import PlannedReference, ReferenceOverride, plan_references
from studio.references.result import ReferenceImages
from studio.references.task import Attempts, Run, give_back, keep, pay, reserve_ahead
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET
from studio.work import Heartbeat, LeaseLost

log = logging.getLogger("studio.references.jobs")
OVERRIDES = TypeAdapter(dict[str, ReferenceOverride])
FIND_SLACK = timedelta(seconds=60)
"""How long before a reference was marked started its call may have been created (clock skew)."""
CANCEL_GRACE_SECONDS = 15.0
"""How long a cancelled job waits for its cancelled calls to report what they cost."""


@dataclass(frozen=True)
class RunEnd:
    """How a run ended: `finished` (the job has its final status), `lost` (taken over), `handed_back`."""

    how: Literal["finished", "lost", "handed_back"]
    result: ReferenceImages | None = None
    status: str | None = None


async def run_job(
    services: Services,
    claimed: Claimed,
    on_event: EventHandler | None = None,
    stop: asyncio.Event | None = None,
) -> RunEnd:
    """Run a claimed job to its end. `stop` hands it back to the queue (a worker shutting down)."""
    records = services.records
    lease, job, existing = claimed.lease, claimed.job, claimed.references
    wall_start = time.perf_counter()
    plan = ScenePlan.model_validate_json(job.plan_json)
    lead = await asyncio.to_thread(primary_image, services, job.song_id) if job.song_id else None
    overrides = OVERRIDES.validate_json(job.overrides_json or "{}")
    planned = plan_references(plan, services.generator, overrides, lead)
    emit = EventSink(records, lease.id, on_event)
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
    # queued before any reservation of this run, so they are written first; a lost lease shows later
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
    run = Run(
        services,
        lease,
        emit,
        Budget(records, lease, job.budget_nanos, job.spent_nanos, job.reserved_nanos),
        total=len(todo),
        versions={ref: row.version for ref, row in existing.items()},
    )
    outcomes = {o.planned.ref: o for o in _reuse(run, reused, existing)}
    outcomes.update({p.ref: _made_earlier(p, existing[p.ref]) for p in earlier})
    try:
        await _adopt(run, todo, existing, claimed.predictions)
        heartbeat = Heartbeat(
            lambda renew: records.jobs.beat(lease, services.settings.lease_seconds if renew else None),
            services.settings.lease_seconds,
        )
        async with heartbeat:
            ended = await _work(run, todo, job.concurrency, heartbeat, stop)
    except LeaseLost:
        return RunEnd("lost")
    if ended == "lost":
        return RunEnd("lost")
    if ended == "stopped":
        await records.jobs.hand_back(lease)
        log.info("job %s handed back: this process is stopping", lease.id)
        return RunEnd("handed_back")
    outcomes.update(run.outcomes)
    return await _finish(run, planned, outcomes, time.perf_counter() - wall_start)


async def _work(
    run: Run, todo: list[PlannedReference], concurrency: int, heartbeat: Heartbeat, stop: asyncio.Event | None
) -> Literal["done", "lost", "stopped", "cancelled"]:
    """Keep `concurrency` calls in flight until every reference is done, or the run must end early."""
    queue = deque(sorted(todo, key=lambda p: p.ref not in run.adopt))
    tasks: set[asyncio.Task[None]] = set()

    async def keep_one(planned: PlannedReference, settled: Settled, state: Attempts) -> None:
        outcome = await keep(run, planned, settled, state)
        if outcome is not None:
            run.outcomes[planned.ref] = outcome

    def take(ahead: bool = True) -> tuple[PlannedReference, asyncio.Future[Decimal] | None] | None:
        if not queue or run.cancelling:
            return None
        planned = queue.popleft()
        return planned, reserve_ahead(run, planned, concurrency) if ahead else None

    async def slot() -> None:
        """One paid call at a time, run right here so the next goes out the moment one settles; the next
        one's reservation is made while this one runs; fetching and storing go on in tasks of their own."""
        current = take(ahead=False)
        while current is not None:
            planned, reservation = current
            upcoming = take()
            paid = await pay(run, planned, reservation)
            if isinstance(paid, tuple):
                task = asyncio.create_task(keep_one(planned, *paid))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif paid is not None:
                run.outcomes[planned.ref] = paid
            if upcoming is not None and run.cancelling:
                queue.appendleft(upcoming[0])
                await give_back(run, upcoming[1])
                upcoming = None
            current = upcoming

    slots: list[asyncio.Task[None]] = []

    async def everything() -> None:
        slots.extend(asyncio.create_task(slot()) for _ in range(concurrency))
        await asyncio.gather(*slots)
        await asyncio.gather(*list(tasks))

    work = asyncio.ensure_future(everything())
    watched = {
        asyncio.ensure_future(heartbeat.lost.wait()): "lost",
        asyncio.ensure_future(heartbeat.cancelled.wait()): "cancelled",
    }
    if stop is not None:
        watched[asyncio.ensure_future(stop.wait())] = "stopped"
    try:
        done, _ = await asyncio.wait({work, *watched}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            work.result()
            return "done"
        reason = next(why for waiter, why in watched.items() if waiter in done)
        if reason == "cancelled":
            await _cancel(run, queue, work, tasks)
            return "cancelled"
        for task in [work, *slots, *tasks]:
            task.cancel()
        await asyncio.gather(work, *slots, *tasks, return_exceptions=True)
        return reason  # type: ignore[return-value]
    finally:
        for waiter in watched:
            waiter.cancel()


async def _cancel(
    run: Run, queue: deque[PlannedReference], work: asyncio.Future[None], tasks: set[asyncio.Task[None]]
) -> None:
    """Start nothing more; ask the provider to stop what is in flight, so each call ends `canceled` and
    its cost is ledgered; what never started is marked cancelled. Stored images are kept."""
    run.cancelling = True
    generator = run.services.generator
    for ref, flight in list(run.in_flight.items()):
        ids = [flight.prediction_id] if flight.prediction_id else []
        if not ids:
            try:
                ids = await generator.find(flight.request, flight.since - FIND_SLACK)
            except Exception:
                log.warning("could not look up the call in flight for %s", ref, exc_info=True)
        for prediction_id in ids:
            await generator.cancel(prediction_id)
    try:
        await asyncio.wait_for(asyncio.shield(work), CANCEL_GRACE_SECONDS)
    except TimeoutError:
        work.cancel()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(work, *tasks, return_exceptions=True)
    records = run.services.records
    for planned in queue:
        run.post(
            records.references.update_for(run.lease, planned.ref, status=CANCELLED, error=CANCELLED_BY_YOU)
        )
        run.outcomes[planned.ref] = Outcome(planned, CANCELLED, error=CANCELLED_BY_YOU)
    queue.clear()


async def _adopt(
    run: Run, todo: list[PlannedReference], existing: dict[str, ReferenceRow], recorded: list[PredictionRow]
) -> None:
    """Predictions an earlier holder of the job paid for and never stored: by recorded id, else looked up."""
    records, generator = run.services.records, run.services.generator
    wanted = {p.ref: p for p in todo}
    for prediction in recorded:
        if prediction.ref in wanted:
            run.adopt.setdefault(prediction.ref, []).append((prediction.id, Decimal(0)))
    unknown = [
        p
        for p in todo
        if p.ref not in run.adopt
        and (row := existing.get(p.ref)) is not None
        and row.started_epoch is not None
        and row.started_epoch < run.lease.epoch
        and row.started_at is not None
        and row.status != STORED
    ]
    for planned in unknown:
        since = as_utc(existing[planned.ref].started_at) - FIND_SLACK  # type: ignore[arg-type]
        found = await generator.find(planned.request, since)
        known = await records.ledger.known_predictions(found)
        for prediction_id in found:
            if prediction_id not in known:
                records.db.post(
                    records.ledger.record_prediction_op(
                        prediction_id, generator.name, planned.ref, job_id=run.job_id, epoch=run.lease.epoch
                    )
                )
                run.adopt.setdefault(planned.ref, []).append((prediction_id, Decimal(0)))
    for ref, predictions in run.adopt.items():
        reserved = generator.max_cost(wanted[ref].request)
        for index, (prediction_id, _) in enumerate(predictions):
            await run.budget.reserve_paid(reserved)
            predictions[index] = (prediction_id, reserved)
    if run.adopt:
        log.info(
            "job %s: adopting %d prediction(s) an earlier holder paid for",
            run.job_id,
            sum(len(found) for found in run.adopt.values()),
        )


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
        "status": "queued",
        "attempts": 0,
        "error": None,
        "failure_reason": None,
        "provider": services.generator.name,
        "model_version": services.generator.model_version,
    }


def _made_earlier(planned: PlannedReference, row: ReferenceRow) -> Outcome:
    """Stored for this request by an earlier holder of the job (which then stopped): it counts as made."""
    return Outcome(planned, STORED, generation_time=row.generation_time, cost=from_nanos(row.cost_nanos))


def _reuse(run: Run, planned: list[PlannedReference], existing: dict[str, ReferenceRow]) -> list[Outcome]:
    """References stored by an earlier run: no request, no cost; the ledger notes what each saved."""
    generator = run.services.generator
    entries = []
    for p in planned:
        saved = from_nanos(existing[p.ref].cost_nanos) or generator.estimated_cost(p.request)
        entries.append(
            LedgerEntry(
                job_id=run.job_id,
                stage="generation",
                provider=generator.name,
                model=generator.model_version,
                ref=p.ref,
                amount=Decimal("0"),
                cache_hit=True,
                saved=saved,
            )
        )
        run.emit("reference_generation_complete", ref=p.ref, reused=True, cost="0", generation_time=0.0)
    if entries:
        run.post(run.services.records.ledger.add_op(*entries))
    return [Outcome(p, STORED, reused=True) for p in planned]


async def _finish(
    run: Run, planned: list[PlannedReference], outcomes: dict[str, Outcome], wall: float
) -> RunEnd:
    """Judge the whole job, record its final status for this lease, and report it."""
    services = run.services
    ordered = [outcomes.get(p.ref) or Outcome(p, "failed", error="not generated") for p in planned]
    stored = [o for o in ordered if o.status == STORED]
    result = await asyncio.to_thread(build_result, services, run.job_id, ordered, wall)  # signs URLs
    cancelled = run.cancelling
    reason: FailureReason | None = None
    if cancelled:  # by request: what is stored is kept, nothing is called a failure
        status = CANCELLED
        result = result.model_copy(update={"status": "partial" if stored else "failed"})
    elif partial_success(ordered):
        status = "success" if len(stored) == len(ordered) else "partial"
    else:
        budget = any(o.budget_refused for o in ordered)
        reason = "budget_exceeded" if budget else "threshold_not_met" if stored else "no_generation_results"
        status = "failed"
        result = result.model_copy(update={"status": "failed"})
    if not await services.records.jobs.finish(run.lease, status, result.model_dump_json(), reason):
        return RunEnd("lost")
    run.emit(
        "stage_update",
        stage="reference_generation",
        status="cancelled" if cancelled else "failed" if reason else "completed",
        result=status,
        reason=reason,
        stored=len(stored),
        total_images=len(ordered),
        total_cost=str(result.total_cost),
        wall_seconds=round(wall, 3),
    )
    await services.records.db.run(lambda _s: None)  # what was queued (events, charges) is committed
    if status == "failed":
        return RunEnd("finished", None, status)
    return RunEnd("finished", result, status)
