"""One reference: reserve, generate with classified retries, store at once, record the version and cost."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from studio.errors import BudgetExceeded, GenerationError
from studio.events import EventSink
from studio.generation.base import GeneratedImage
from studio.generation.retry import with_retries
from studio.keys import REFERENCE_BUCKET, reference_version_key
from studio.logs import log_step
from studio.money import to_nanos
from studio.pipeline.batching import Batcher
from studio.pipeline.result import FAILED, STORED, Outcome
from studio.planning import PlannedReference
from studio.png_parameters import embed_parameters, ensure_png
from studio.records.leases import ClaimedTask
from studio.records.schema import ReferenceVersionRow
from studio.records.store import LedgerEntry
from studio.records.versions import StoredImage, store_versions
from studio.services import Services

log = logging.getLogger("studio.pipeline")


@dataclass
class Run:
    """One process's share of a job run: who it is, what it reports, how many images it started."""

    services: Services
    job_id: str
    emit: EventSink
    owner: str
    total: int
    started: int = 0
    committer: Batcher[StoredImage, int | None] = field(init=False)
    _cancel_checked: float = 0.0
    _cancelled: bool = False

    def __post_init__(self) -> None:
        self.committer = Batcher(partial(store_versions, self.services.records, self.job_id, self.owner))

    def cancel_requested(self, every: float = 0.25) -> bool:
        """Whether the job was asked to stop; read from the records at most every `every` seconds."""
        now = time.monotonic()
        if not self._cancelled and now - self._cancel_checked >= every:
            self._cancel_checked = now
            self._cancelled = self.services.records.cancel_requested(self.job_id)
        return self._cancelled


@dataclass
class _Attempts:
    """What the attempts of one reference have done so far."""

    count: int = 0
    failed_cost: Decimal = Decimal("0")
    unrecorded: tuple[Decimal, GeneratedImage] | None = None
    """A generated, paid-for image (and its reservation) whose charge is not in the ledger yet."""


async def generate_one(
    run: Run, planned: PlannedReference, claimed: ClaimedTask, generated: asyncio.Event | None = None
) -> Outcome | None:
    """Generate and store one claimed reference; None when another process took it over meanwhile.

    `generated` is set once the paid calls are over, so the caller can start the next image while this one
    is still being stored: the concurrency limit is on calls in flight, not on storage writes.
    """
    state = _Attempts()
    started = time.perf_counter()

    def on_retry(attempt_number: int, error: GenerationError, wait: float) -> None:
        log_step(
            log,
            "reference retry",
            level=logging.WARNING,
            job_id=run.job_id,
            stage="generation",
            reference=planned.ref,
            attempt=attempt_number,
            outcome=error.reason,
            wait=round(wait, 3),
        )
        run.emit(
            "reference_generation_retry",
            ref=planned.ref,
            attempt=attempt_number,
            reason=error.reason,
            wait_seconds=round(wait, 3),
        )

    try:
        try:
            png = await with_retries(
                partial(_attempt, run, planned, state),
                attempts=run.services.settings.retry_attempts,
                backoff=run.services.settings.retry_backoff,
                on_retry=on_retry,
            )
        finally:
            if generated is not None:
                generated.set()
        elapsed = time.perf_counter() - started
        kept = await asyncio.to_thread(_store_files, run, planned, png, claimed.version)
        assert state.unrecorded is not None
        reserved, image = state.unrecorded
        total_cost = state.failed_cost + image.cost
        state.unrecorded = None
        stored = _stored_image(run, planned, image, reserved, kept, elapsed, total_cost, state.count)
        if await run.committer.submit(stored) is None:
            log.warning(
                "%s of job %s was taken over by another process; its result stands", planned.ref, run.job_id
            )
            return None
    except (GenerationError, BudgetExceeded) as exc:
        return _failed(run, planned, exc, state, time.perf_counter() - started)
    except Exception as exc:
        log.exception("unexpected error generating %s of job %s", planned.ref, run.job_id)
        return _failed(run, planned, exc, state, time.perf_counter() - started)
    log_step(
        log,
        "reference generated",
        job_id=run.job_id,
        stage="generation",
        reference=planned.ref,
        attempt=state.count,
        duration=round(elapsed, 3),
        outcome="stored",
        cost=str(total_cost),
    )
    run.emit(
        "reference_generation_complete",
        ref=planned.ref,
        reused=False,
        cost=str(total_cost),
        generation_time=round(elapsed, 4),
        attempts=state.count,
    )
    return Outcome(planned, STORED, generation_time=elapsed, cost=total_cost)


async def _attempt(run: Run, planned: PlannedReference, state: _Attempts) -> bytes:
    """One paid call: reserve its most possible cost, generate, and keep the charge until it is recorded."""
    generator = run.services.generator
    records = run.services.records
    state.count += 1
    if state.count > 1:
        records.update_reference(run.job_id, planned.ref, attempts=state.count)
    reserve = generator.max_cost(planned.request)
    if reserve:
        await _reserve(run, planned, reserve)
    try:
        image = await generator.generate(planned.request)
    except GenerationError as exc:
        await asyncio.to_thread(records.charge, run.job_id, reserve, _entry(run, planned, exc.charged))
        state.failed_cost += exc.charged
        raise
    except BaseException:
        if reserve:
            records.settle(run.job_id, reserve, Decimal("0"), planned.ref)
        raise
    state.unrecorded = (reserve, image)
    png = image.data
    if image.content_type != "image/png":
        png = await asyncio.to_thread(ensure_png, image.data, image.content_type)
    return embed_parameters(png, planned.parameters_text)


async def _reserve(run: Run, planned: PlannedReference, amount: Decimal) -> None:
    """Reserve the call's most possible cost; wait while other calls' reservations may still free room.

    BudgetExceeded only when what is already spent leaves no room, so concurrency never turns into refusals.
    """
    records = run.services.records
    while not records.reserve(run.job_id, amount, planned.ref):
        job = records.get_job(run.job_id)
        if job is None or job.reserved_nanos <= 0 or job.spent_nanos + to_nanos(amount) > job.budget_nanos:
            raise BudgetExceeded(f"{planned.ref}: reserving {amount} would exceed the job's budget")
        await asyncio.sleep(0.05)


def _store_files(
    run: Run, planned: PlannedReference, png: bytes, previous_version: int
) -> tuple[int, str] | None:
    """Keep the previous image under versions/ and put the new one at the canonical key (in a thread)."""
    storage = run.services.storage
    kept = None
    if previous_version and storage.exists(REFERENCE_BUCKET, planned.storage_key):
        kept = (previous_version, reference_version_key(run.job_id, planned.ref, previous_version))
        storage.copy(REFERENCE_BUCKET, planned.storage_key, kept[1])
    storage.put(REFERENCE_BUCKET, planned.storage_key, png, "image/png")
    return kept


def _stored_image(
    run: Run,
    planned: PlannedReference,
    image: GeneratedImage,
    reserved: Decimal,
    kept: tuple[int, str] | None,
    elapsed: float,
    cost: Decimal,
    attempts: int,
) -> StoredImage:
    """The new image as the latest version, its charge, and the release of the reference's lease."""
    generator = run.services.generator
    return StoredImage(
        ref=planned.ref,
        version=ReferenceVersionRow(
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
            worker=run.owner,
        ),
        reference={
            "status": STORED,
            "generation_time": elapsed,
            "cost_nanos": to_nanos(cost),
            "attempts": attempts,
            "error": None,
            "failure_reason": None,
            "lease_owner": None,
            "lease_expires_at": None,
        },
        charge=_entry(run, planned, image.cost, image),
        reserved_nanos=to_nanos(reserved),
        kept_previous=kept,
    )


def _entry(
    run: Run, planned: PlannedReference, amount: Decimal, image: GeneratedImage | None = None
) -> LedgerEntry:
    """The ledger line of one paid call, with the figure the provider reported."""
    generator = run.services.generator
    units = image.units if image is not None else Decimal("0")
    return LedgerEntry(
        job_id=run.job_id,
        stage="generation",
        provider=generator.name,
        model=generator.model_version,
        ref=planned.ref,
        amount=amount,
        units=units,
        unit_name="second" if units else "image",
        unit_price=image.unit_price if image is not None else Decimal("0"),
        prediction_id=image.prediction_id if image is not None else None,
    )


def _failed(
    run: Run, planned: PlannedReference, error: BaseException, state: _Attempts, elapsed: float
) -> Outcome:
    records = run.services.records
    if state.unrecorded is not None:  # generated and paid for, but not stored: the charge still counts
        reserved, image = state.unrecorded
        records.charge(run.job_id, reserved, _entry(run, planned, image.cost, image))
        state.failed_cost += image.cost
        state.unrecorded = None
    budget = isinstance(error, BudgetExceeded)
    message = f"{type(error).__name__}: {error}"
    reason = "budget_exceeded" if budget else getattr(error, "reason", "unexpected_error")
    records.update_reference(
        run.job_id,
        planned.ref,
        status=FAILED,
        error=message,
        failure_reason=reason,
        generation_time=elapsed,
        cost_nanos=to_nanos(state.failed_cost),
        attempts=state.count,
        lease_owner=None,
        lease_expires_at=None,
    )
    log_step(
        log,
        "reference failed",
        level=logging.WARNING,
        job_id=run.job_id,
        stage="generation",
        reference=planned.ref,
        attempt=state.count,
        duration=round(elapsed, 3),
        outcome=reason,
        error=message,
    )
    run.emit(
        "reference_generation_failed",
        ref=planned.ref,
        error=message,
        reason=reason,
        attempts=state.count,
        will_continue=True,
    )
    return Outcome(
        planned, FAILED, generation_time=elapsed, cost=state.failed_cost, error=message, budget_refused=budget
    )
