"""Reference generation: every scene and character of a plan, concurrently, stored the moment each arrives.

Fixes the seed's defects: atomic budget reservation, classified retries with backoff, per-image upload,
seeded and resumable requests, wall-clock totals.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from studio.errors import BudgetExceeded, GenerationError, InvalidInput
from studio.events import EventHandler, EventSink, FailureReason
from studio.generation.retry import with_retries
from studio.keys import REFERENCE_BUCKET, reference_version_key
from studio.money import from_nanos, to_nanos
from studio.plan import ScenePlan
from studio.planning import PlannedReference, ReferenceOverride, budget_for, plan_references
from studio.png_parameters import embed_parameters, ensure_png
from studio.records.schema import ReferenceRow, ReferenceVersionRow
from studio.records.store import LedgerEntry
from studio.references import ReferenceImage, ReferenceImages, ReferenceMetadata
from studio.services import Services

log = logging.getLogger("studio.pipeline")

STORED = "stored"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass
class _Outcome:
    planned: PlannedReference
    status: str
    generation_time: float = 0.0
    cost: Decimal = Decimal("0")
    reused: bool = False
    error: str | None = None
    budget_refused: bool = False


@dataclass
class _Run:
    services: Services
    job_id: str
    emit: EventSink
    total: int
    started: int = 0
    outcomes: list[_Outcome] = field(default_factory=list)
    _cancel_checked: float = 0.0
    _cancelled: bool = False

    def cancel_requested(self, every: float = 0.25) -> bool:
        """Whether the job was asked to stop; read from the records at most every `every` seconds."""
        now = time.monotonic()
        if not self._cancelled and now - self._cancel_checked >= every:
            self._cancel_checked = now
            self._cancelled = self.services.records.cancel_requested(self.job_id)
        return self._cancelled


def partial_success(outcomes: list[_Outcome]) -> bool:
    """The seed's rule: at least half the images, at least one scene and at least one character."""
    stored = [o for o in outcomes if o.status == STORED]
    return (
        bool(outcomes)
        and len(stored) * 2 >= len(outcomes)
        and any(o.planned.kind == "scene" for o in stored)
        and any(o.planned.kind == "character" for o in stored)
    )


async def generate_references(
    services: Services,
    job_id: str | UUID,
    plan: ScenePlan,
    duration_seconds: float | None = None,
    on_event: EventHandler | None = None,
    *,
    concurrency: int | None = None,
    overrides: dict[str, ReferenceOverride] | None = None,
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
    planned = plan_references(plan, services.generator, overrides)
    generator = services.generator
    services.records.start_job(
        job_id,
        plan.model_dump_json(),
        budget_for(settings, duration_seconds),
        duration_seconds=duration_seconds,
        concurrency=concurrency,
        provider=generator.name,
        model_version=generator.model_version,
    )
    emit = EventSink(services.records, job_id, on_event)
    wall_start = time.perf_counter()
    emit("stage_update", stage="reference_generation", status="started", total_images=len(planned))
    existing = services.records.references(job_id)
    reusable = await asyncio.to_thread(_reusable, services, planned, existing)
    run = _Run(services, job_id, emit, total=len(planned) - len(reusable))
    reused = _reuse(run, [p for p in planned if p.ref in reusable], existing)
    to_generate = [p for p in planned if p.ref not in reusable]
    services.records.prepare_references(job_id, [_queued_row(services, p) for p in to_generate])
    semaphore = asyncio.Semaphore(concurrency)
    flusher = asyncio.create_task(_flush_events(emit))
    try:
        generated = await asyncio.gather(
            *(
                _one(run, p, existing[p.ref].version if p.ref in existing else 0, semaphore)
                for p in to_generate
            )
        )
    except BaseException:
        services.records.finish_job(job_id, "failed", None, "unexpected_error")
        emit("stage_update", stage="reference_generation", status="failed", reason="unexpected_error")
        raise
    finally:
        flusher.cancel()
        emit.flush()
    by_ref = {o.planned.ref: o for o in [*reused, *generated]}
    run.outcomes = [by_ref[p.ref] for p in planned]
    result = _finish(run, time.perf_counter() - wall_start)
    emit.flush()
    return result


async def _flush_events(emit: EventSink, every: float = 0.2) -> None:
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(emit.flush)


def _reusable(
    services: Services, planned: list[PlannedReference], existing: dict[str, ReferenceRow]
) -> set[str]:
    """References already stored with identical parameters, whose image is still in storage."""
    return {
        p.ref
        for p in planned
        if (row := existing.get(p.ref)) is not None
        and row.status == STORED
        and row.params_hash == p.params_hash
        and services.storage.exists(REFERENCE_BUCKET, p.storage_key)
    }


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
    }


async def _one(
    run: _Run, planned: PlannedReference, previous_version: int, semaphore: asyncio.Semaphore
) -> _Outcome:
    async with semaphore:
        if run.cancel_requested():
            run.services.records.update_reference(
                run.job_id, planned.ref, status=CANCELLED, error="job cancelled"
            )
            return _Outcome(planned, CANCELLED, error="job cancelled")
        run.started += 1
        run.emit(
            "reference_generation_start", ref=planned.ref, current_image=run.started, total_images=run.total
        )
        return await _generate(run, planned, previous_version)


def _reuse(run: _Run, planned: list[PlannedReference], existing: dict[str, ReferenceRow]) -> list[_Outcome]:
    """Identical references already stored: no request, no cost; the ledger notes what each saved."""
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
        run.services.records.add_ledger(*entries)
    return [_Outcome(p, STORED, reused=True) for p in planned]


async def _generate(run: _Run, planned: PlannedReference, previous_version: int) -> _Outcome:
    services = run.services
    generator = services.generator
    records = services.records
    attempts = 0
    started = time.perf_counter()
    total_cost = Decimal("0")

    async def attempt() -> bytes:
        nonlocal attempts, total_cost
        attempts += 1
        records.update_reference(run.job_id, planned.ref, status="generating", attempts=attempts)
        reserve = generator.max_cost(planned.request)
        if reserve and not records.reserve(run.job_id, reserve):
            raise BudgetExceeded(f"{planned.ref}: reserving {reserve} would exceed the job's budget")
        try:
            image = await generator.generate(planned.request)
        except GenerationError as exc:
            _charge(run, planned, reserve, exc.charged, None, None)
            total_cost += exc.charged
            raise
        except BaseException:
            if reserve:
                records.settle(run.job_id, reserve, Decimal("0"))
            raise
        _charge(run, planned, reserve, image.cost, image.units, image.prediction_id, image.unit_price)
        total_cost += image.cost
        png = image.data
        if image.content_type != "image/png":
            png = await asyncio.to_thread(ensure_png, image.data, image.content_type)
        return embed_parameters(png, planned.parameters_text)

    def on_retry(attempt_number: int, error: GenerationError, wait: float) -> None:
        run.emit(
            "reference_generation_retry",
            ref=planned.ref,
            attempt=attempt_number,
            reason=error.reason,
            wait_seconds=round(wait, 3),
        )

    try:
        png = await with_retries(
            attempt,
            attempts=services.settings.retry_attempts,
            backoff=services.settings.retry_backoff,
            on_retry=on_retry,
        )
        elapsed = time.perf_counter() - started
        await asyncio.to_thread(_store_files, run, planned, png, previous_version)
        _record_version(run, planned, previous_version, elapsed, total_cost, attempts)
    except (GenerationError, BudgetExceeded) as exc:
        return _failed(run, planned, exc, attempts, time.perf_counter() - started, total_cost)
    except Exception as exc:
        log.exception("unexpected error generating %s of job %s", planned.ref, run.job_id)
        return _failed(run, planned, exc, attempts, time.perf_counter() - started, total_cost)
    run.emit(
        "reference_generation_complete",
        ref=planned.ref,
        reused=False,
        cost=str(total_cost),
        generation_time=round(elapsed, 4),
        attempts=attempts,
    )
    return _Outcome(planned, STORED, generation_time=elapsed, cost=total_cost)


def _store_files(run: _Run, planned: PlannedReference, png: bytes, previous_version: int) -> None:
    """Keep the previous image under versions/ and put the new one at the canonical key (in a thread)."""
    storage = run.services.storage
    if previous_version and storage.exists(REFERENCE_BUCKET, planned.storage_key):
        kept = reference_version_key(run.job_id, planned.ref, previous_version)
        storage.copy(REFERENCE_BUCKET, planned.storage_key, kept)
    storage.put(REFERENCE_BUCKET, planned.storage_key, png, "image/png")


def _record_version(
    run: _Run, planned: PlannedReference, previous_version: int, elapsed: float, cost: Decimal, attempts: int
) -> None:
    """Record the new image as the latest version; records are written from the event loop's thread only."""
    records = run.services.records
    if previous_version:
        kept = reference_version_key(run.job_id, planned.ref, previous_version)
        records.move_version(run.job_id, planned.ref, previous_version, kept)
    generator = run.services.generator
    records.store_version(
        run.job_id,
        planned.ref,
        ReferenceVersionRow(
            version=previous_version + 1,
            prompt=planned.request.prompt,
            negative_prompt=planned.request.negative_prompt,
            seed=planned.request.seed,
            parameters_json=json.dumps(planned.parameters, sort_keys=True),
            params_hash=planned.params_hash,
            storage_key=planned.storage_key,
            provider=generator.name,
            model_version=generator.model_version,
            cost_nanos=to_nanos(cost),
            generation_time=elapsed,
            note=planned.note,
        ),
        status=STORED,
        generation_time=elapsed,
        cost_nanos=to_nanos(cost),
        attempts=attempts,
        error=None,
    )


def _charge(
    run: _Run,
    planned: PlannedReference,
    reserved: Decimal,
    amount: Decimal,
    units: Decimal | None,
    prediction_id: str | None,
    unit_price: Decimal = Decimal("0"),
) -> None:
    """Settle the reservation with what the call really cost, and put that figure in the ledger."""
    generator = run.services.generator
    run.services.records.charge(
        run.job_id,
        reserved,
        LedgerEntry(
            job_id=run.job_id,
            stage="generation",
            provider=generator.name,
            model=generator.model_version,
            ref=planned.ref,
            amount=amount,
            units=units if units is not None else Decimal("0"),
            unit_name="second" if units else "image",
            unit_price=unit_price,
            prediction_id=prediction_id,
        ),
    )


def _failed(
    run: _Run, planned: PlannedReference, error: BaseException, attempts: int, elapsed: float, cost: Decimal
) -> _Outcome:
    budget = isinstance(error, BudgetExceeded)
    message = f"{type(error).__name__}: {error}"
    run.services.records.update_reference(
        run.job_id,
        planned.ref,
        status=FAILED,
        error=message,
        generation_time=elapsed,
        cost_nanos=to_nanos(cost),
        attempts=attempts,
    )
    run.emit(
        "reference_generation_failed",
        ref=planned.ref,
        error=message,
        reason="budget_exceeded" if budget else getattr(error, "reason", "unexpected_error"),
        attempts=attempts,
        will_continue=True,
    )
    return _Outcome(planned, FAILED, generation_time=elapsed, cost=cost, error=message, budget_refused=budget)


def _finish(run: _Run, wall: float) -> ReferenceImages | None:
    services = run.services
    outcomes = run.outcomes
    stored = [o for o in outcomes if o.status == STORED]
    result = build_result(services, run.job_id, outcomes, wall)
    cancelled = any(o.status == CANCELLED for o in outcomes)
    if partial_success(outcomes):
        status = "success" if len(stored) == len(outcomes) else "partial"
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
    reason: FailureReason
    if not stored:
        reason = "budget_exceeded" if any(o.budget_refused for o in outcomes) else "no_generation_results"
    else:
        reason = "budget_exceeded" if any(o.budget_refused for o in outcomes) else "threshold_not_met"
    result = result.model_copy(update={"status": "failed"})
    services.records.finish_job(
        run.job_id, CANCELLED if cancelled else FAILED, result.model_dump_json(), reason
    )
    run.emit(
        "stage_update",
        stage="reference_generation",
        status="failed",
        reason=reason,
        stored=len(stored),
        total_images=len(outcomes),
    )
    log.info(
        "job %s fell back to text-only: %s (%s of %s stored)", run.job_id, reason, len(stored), len(outcomes)
    )
    return None


def build_result(services: Services, job_id: str, outcomes: list[_Outcome], wall: float) -> ReferenceImages:
    settings = services.settings
    scenes: list[ReferenceImage] = []
    characters: list[ReferenceImage] = []
    for outcome in outcomes:
        if outcome.status != STORED:
            continue
        request = outcome.planned.request
        image = ReferenceImage(
            scene_id=outcome.planned.subject_id if outcome.planned.kind == "scene" else None,
            character_id=outcome.planned.subject_id if outcome.planned.kind == "character" else None,
            image_url=services.storage.signed_url(
                REFERENCE_BUCKET, outcome.planned.storage_key, settings.signed_url_ttl
            ),
            prompt_used=request.prompt,
            negative_prompt=request.negative_prompt,
            seed=request.seed,
            generation_time=round(outcome.generation_time, 4),
            cost=outcome.cost,
            storage_key=outcome.planned.storage_key,
            reused=outcome.reused,
        )
        (scenes if outcome.planned.kind == "scene" else characters).append(image)
    return ReferenceImages(
        job_id=job_id,
        scene_references=scenes,
        character_references=characters,
        total_references=len(scenes) + len(characters),
        total_generation_time=round(wall, 4),
        total_cost=sum((o.cost for o in outcomes), Decimal("0")),
        status="success" if len(scenes) + len(characters) == len(outcomes) else "partial",
        metadata=ReferenceMetadata(
            model_version=services.generator.model_version,
            environment=settings.environment,
            provider=services.generator.name,
        ),
    )
