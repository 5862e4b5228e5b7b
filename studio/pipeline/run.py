"""Reference generation: every scene and character of a plan, concurrently, stored the moment each arrives.

Fixes the seed's defects: atomic budget reservation, classified retries with backoff, per-image upload,
seeded and resumable requests, wall-clock totals. Each reference is a task claimed under a lease, so any
number of processes can work on one job, and a crashed one's images are taken over.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from studio.errors import InvalidInput
from studio.events import EventHandler, EventSink, FailureReason
from studio.keys import REFERENCE_BUCKET
from studio.logs import log_step
from studio.money import from_nanos
from studio.pipeline.batching import Batcher
from studio.pipeline.result import CANCELLED, STORED, Outcome, build_result, partial_success
from studio.pipeline.task import Run, generate_one
from studio.plan import ScenePlan
from studio.planning import PlannedReference, ReferenceOverride, budget_for, plan_references
from studio.records import leases
from studio.records.schema import ReferenceRow, as_utc, utcnow
from studio.records.store import LedgerEntry
from studio.references import ReferenceImages
from studio.services import Services

log = logging.getLogger("studio.pipeline")


async def generate_references(
    services: Services,
    job_id: str | UUID,
    plan: ScenePlan,
    duration_seconds: float | None = None,
    on_event: EventHandler | None = None,
    *,
    concurrency: int | None = None,
    overrides: dict[str, ReferenceOverride] | None = None,
    owner: str | None = None,
) -> ReferenceImages | None:
    """Generate, or resume, a job's references.

    Returns None when the partial-success rule fails: clip generation then falls back to text-only prompts.
    """
    job_id = str(job_id)
    if job_id != str(plan.job_id):
        raise InvalidInput("job_id", f"{job_id} does not match the plan's job_id {plan.job_id}")
    if duration_seconds is not None and duration_seconds <= 0:
        raise InvalidInput("duration_seconds", "must be a positive number of seconds")
    settings = services.settings
    concurrency = concurrency or settings.reference_gen_concurrency
    if concurrency < 1:
        raise InvalidInput("concurrency", "must be at least 1")
    owner = owner or leases.new_owner()
    planned = plan_references(plan, services.generator, overrides)
    refs = [p.ref for p in planned]
    existing = services.records.references(job_id)
    now = utcnow()
    joining = any(leases.held_by_another(existing[ref], owner, now) for ref in refs if ref in existing)
    job = (
        services.records.get_job(job_id)
        if joining
        else services.records.start_job(
            job_id,
            plan.model_dump_json(),
            budget_for(settings, duration_seconds),
            duration_seconds=duration_seconds,
            concurrency=concurrency,
            provider=services.generator.name,
            model_version=services.generator.model_version,
        )
    )
    assert job is not None and job.started_at is not None
    emit = EventSink(services.records, job_id, on_event)
    wall_start = time.perf_counter()
    if not joining:
        emit("stage_update", stage="reference_generation", status="started", total_images=len(planned))
    done = (
        await asyncio.to_thread(_already_stored, services, planned, existing)
        if any(row.status == STORED for row in existing.values())
        else set()
    )
    reused = [p for p in planned if p.ref in done and _stored_before(existing[p.ref], job.started_at)]
    run = Run(services, job_id, emit, owner, total=len(planned) - len(done))
    outcomes = {o.planned.ref: o for o in _reuse(run, reused, existing)}
    if not joining:
        services.records.prepare_references(
            job_id,
            [_queued_row(services, p) for p in planned if p.ref not in done],
            keep=refs,
            seen={ref: row.status for ref, row in existing.items()},
        )
    flusher = asyncio.create_task(_background(run, services.settings.lease_seconds))
    try:
        outcomes.update(await _work(run, planned, concurrency))
    except BaseException:
        services.records.finish_job(job_id, "failed", None, "unexpected_error")
        emit("stage_update", stage="reference_generation", status="failed", reason="unexpected_error")
        raise
    finally:
        flusher.cancel()
        emit.flush()
    result = _finish(run, planned, outcomes, time.perf_counter() - wall_start)
    emit.flush()
    return result


async def _work(run: Run, planned: list[PlannedReference], concurrency: int) -> dict[str, Outcome]:
    """Claim and generate references until none is left for anyone; wait out other processes' images."""
    by_ref = {p.ref: p for p in planned}
    records = run.services.records
    lease = run.services.settings.lease_seconds
    outcomes: dict[str, Outcome] = {}

    def claim(requests: list[None]) -> list[leases.ClaimedTask | None]:
        claimed = leases.claim_tasks(records, run.job_id, run.owner, lease, len(requests))
        return [*claimed, *[None] * (len(requests) - len(claimed))]

    claimer: Batcher[None, leases.ClaimedTask | None] = Batcher(claim)

    storing: set[asyncio.Task[None]] = set()

    async def finish(planned: PlannedReference, task: leases.ClaimedTask, generated: asyncio.Event) -> None:
        outcome = await generate_one(run, planned, task, generated)
        if outcome is not None:
            outcomes[task.ref] = outcome

    def give_back(task: leases.ClaimedTask) -> None:
        """A claimed reference the cancelled job will not start."""
        records.update_reference(
            run.job_id,
            task.ref,
            status=CANCELLED,
            error="job cancelled",
            lease_owner=None,
            lease_expires_at=None,
        )

    async def worker() -> None:
        """Claims its next reference while the current one is generating, so rounds follow without a gap.

        A reference claimed ahead holds no budget: reservations belong to calls in flight only, so waiting
        for budget can never wait on a reference that is itself waiting.
        """
        upcoming = await claimer.submit(None)
        while upcoming is not None:
            if run.cancel_requested():
                give_back(upcoming)
                return
            task = upcoming
            run.started += 1
            run.emit(
                "reference_generation_start", ref=task.ref, current_image=run.started, total_images=run.total
            )
            generated = asyncio.Event()
            one = asyncio.create_task(finish(by_ref[task.ref], task, generated))
            storing.add(one)
            one.add_done_callback(storing.discard)
            upcoming = await claimer.submit(None)
            await generated.wait()

    while True:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await asyncio.gather(*storing)
        if run.cancel_requested():
            records.cancel_queued(run.job_id)
            break
        if not leases.live_tasks_of_others(records, run.job_id, run.owner, by_ref):
            break
        await asyncio.sleep(min(0.25, lease / 10))
    return outcomes


async def _background(run: Run, lease_seconds: float) -> None:
    """Flush events a few times a second and keep this process's task leases alive."""
    beat = time.monotonic()
    while True:
        await asyncio.sleep(0.2)
        await asyncio.to_thread(run.emit.flush)
        if time.monotonic() - beat >= lease_seconds / 3:
            beat = time.monotonic()
            await asyncio.to_thread(
                leases.extend_task_leases, run.services.records, run.job_id, run.owner, lease_seconds
            )


def _already_stored(
    services: Services, planned: list[PlannedReference], existing: dict[str, ReferenceRow]
) -> set[str]:
    """References stored with identical parameters whose image is still in storage."""
    return {
        p.ref
        for p in planned
        if (row := existing.get(p.ref)) is not None
        and row.status == STORED
        and row.params_hash == p.params_hash
        and services.storage.exists(REFERENCE_BUCKET, p.storage_key)
    }


def _stored_before(row: ReferenceRow, started_at: datetime) -> bool:
    """Stored by an earlier run (a reuse), rather than by another process during this one."""
    return as_utc(row.updated_at) < as_utc(started_at)


def _queued_row(services: Services, planned: PlannedReference) -> dict[str, object]:
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
        "provider": services.generator.name,
        "model_version": services.generator.model_version,
        "lease_owner": None,
        "lease_expires_at": None,
    }


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
        log_step(
            log, "reference reused", job_id=run.job_id, stage="generation", reference=p.ref, outcome="reused"
        )
        run.emit("reference_generation_complete", ref=p.ref, reused=True, cost="0", generation_time=0.0)
    if entries:
        run.services.records.add_ledger(*entries)
    return [Outcome(p, STORED, reused=True) for p in planned]


def _finish(
    run: Run, planned: list[PlannedReference], mine: dict[str, Outcome], wall: float
) -> ReferenceImages | None:
    """Judge the whole job from the records (other processes may have made some of its images)."""
    services = run.services
    rows = {} if all(p.ref in mine for p in planned) else services.records.references(run.job_id)
    outcomes = []
    for p in planned:
        if p.ref in mine:
            outcomes.append(mine[p.ref])
            continue
        row = rows.get(p.ref)
        if row is None or row.params_hash != p.params_hash:
            outcomes.append(Outcome(p, "failed", error="not generated"))
            continue
        outcomes.append(
            Outcome(
                p,
                row.status,
                cost=from_nanos(row.cost_nanos),
                error=row.error,
                budget_refused=row.failure_reason == "budget_exceeded",
            )
        )
    stored = [o for o in outcomes if o.status == STORED]
    result = build_result(services, run.job_id, outcomes, wall)
    cancelled = any(o.status == CANCELLED for o in outcomes)
    if partial_success(outcomes):
        status = "success" if len(stored) == len(outcomes) else "partial"
        log_step(
            log,
            "reference generation finished",
            job_id=run.job_id,
            stage="reference_generation",
            duration=round(wall, 3),
            outcome=status,
            stored=len(stored),
            total=len(outcomes),
        )
        services.records.finish_job(
            run.job_id, CANCELLED if cancelled else status, result.model_dump_json(), None
        )
        run.emit(
            "stage_update",
            stage="reference_generation",
            status="completed",
            result=status,
            stored=len(stored),
            total_images=len(outcomes),
            total_cost=str(result.total_cost),
            wall_seconds=round(wall, 3),
        )
        return result
    budget = any(o.budget_refused for o in outcomes)
    reason: FailureReason = (
        "budget_exceeded" if budget else "threshold_not_met" if stored else "no_generation_results"
    )
    result = result.model_copy(update={"status": "failed"})
    services.records.finish_job(
        run.job_id, CANCELLED if cancelled else "failed", result.model_dump_json(), reason
    )
    run.emit(
        "stage_update",
        stage="reference_generation",
        status="failed",
        reason=reason,
        stored=len(stored),
        total_images=len(outcomes),
    )
    log_step(
        log,
        "reference generation fell back to text-only",
        level=logging.WARNING,
        job_id=run.job_id,
        stage="reference_generation",
        duration=round(wall, 3),
        outcome=reason,
        stored=len(stored),
        total=len(outcomes),
    )
    return None
