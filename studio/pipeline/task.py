"""One reference: reserve, generate with classified retries, store at once, record the version and cost."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal

from studio.errors import BudgetExceeded, GenerationError
from studio.events import EventSink
from studio.generation.retry import with_retries
from studio.keys import REFERENCE_BUCKET, reference_version_key
from studio.logs import log_step
from studio.money import to_nanos
from studio.pipeline.result import FAILED, STORED, Outcome
from studio.planning import PlannedReference
from studio.png_parameters import embed_parameters, ensure_png
from studio.records.schema import ReferenceVersionRow
from studio.records.store import LedgerEntry
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
    _cancel_checked: float = 0.0
    _cancelled: bool = False

    def cancel_requested(self, every: float = 0.25) -> bool:
        """Whether the job was asked to stop; read from the records at most every `every` seconds."""
        now = time.monotonic()
        if not self._cancelled and now - self._cancel_checked >= every:
            self._cancel_checked = now
            self._cancelled = self.services.records.cancel_requested(self.job_id)
        return self._cancelled


async def generate_one(run: Run, planned: PlannedReference, previous_version: int) -> Outcome | None:
    """Generate and store one claimed reference; None when another process took it over meanwhile."""
    services = run.services
    generator = services.generator
    records = services.records
    attempts = 0
    started = time.perf_counter()
    total_cost = Decimal("0")

    async def attempt() -> bytes:
        nonlocal attempts, total_cost
        attempts += 1
        if attempts > 1:
            records.update_reference(run.job_id, planned.ref, attempts=attempts)
        reserve = generator.max_cost(planned.request)
        if reserve:
            await _reserve(run, planned, reserve)
        try:
            image = await generator.generate(planned.request)
        except GenerationError as exc:
            _charge(run, planned, reserve, exc.charged, None, None)
            total_cost += exc.charged
            raise
        except BaseException:
            if reserve:
                records.settle(run.job_id, reserve, Decimal("0"), planned.ref)
            raise
        _charge(run, planned, reserve, image.cost, image.units, image.prediction_id, image.unit_price)
        total_cost += image.cost
        png = image.data
        if image.content_type != "image/png":
            png = await asyncio.to_thread(ensure_png, image.data, image.content_type)
        return embed_parameters(png, planned.parameters_text)

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
        png = await with_retries(
            attempt,
            attempts=services.settings.retry_attempts,
            backoff=services.settings.retry_backoff,
            on_retry=on_retry,
        )
        elapsed = time.perf_counter() - started
        await asyncio.to_thread(_store_files, run, planned, png, previous_version)
        if _record_version(run, planned, previous_version, elapsed, total_cost, attempts) is None:
            log.warning(
                "%s of job %s was taken over by another process; its result stands", planned.ref, run.job_id
            )
            return None
    except (GenerationError, BudgetExceeded) as exc:
        return _failed(run, planned, exc, attempts, time.perf_counter() - started, total_cost)
    except Exception as exc:
        log.exception("unexpected error generating %s of job %s", planned.ref, run.job_id)
        return _failed(run, planned, exc, attempts, time.perf_counter() - started, total_cost)
    log_step(
        log,
        "reference generated",
        job_id=run.job_id,
        stage="generation",
        reference=planned.ref,
        attempt=attempts,
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
        attempts=attempts,
    )
    return Outcome(planned, STORED, generation_time=elapsed, cost=total_cost)


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


def _store_files(run: Run, planned: PlannedReference, png: bytes, previous_version: int) -> None:
    """Keep the previous image under versions/ and put the new one at the canonical key (in a thread)."""
    storage = run.services.storage
    if previous_version and storage.exists(REFERENCE_BUCKET, planned.storage_key):
        kept = reference_version_key(run.job_id, planned.ref, previous_version)
        storage.copy(REFERENCE_BUCKET, planned.storage_key, kept)
    storage.put(REFERENCE_BUCKET, planned.storage_key, png, "image/png")


def _record_version(
    run: Run, planned: PlannedReference, previous_version: int, elapsed: float, cost: Decimal, attempts: int
) -> int | None:
    """Record the new image as the latest version and release the task's lease, in one transaction."""
    records = run.services.records
    if previous_version:
        kept = reference_version_key(run.job_id, planned.ref, previous_version)
        records.move_version(run.job_id, planned.ref, previous_version, kept)
    generator = run.services.generator
    return records.store_version(
        run.job_id,
        planned.ref,
        run.owner,
        ReferenceVersionRow(
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
        status=STORED,
        generation_time=elapsed,
        cost_nanos=to_nanos(cost),
        attempts=attempts,
        error=None,
        failure_reason=None,
        lease_owner=None,
        lease_expires_at=None,
    )


def _charge(
    run: Run,
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
    run: Run, planned: PlannedReference, error: BaseException, attempts: int, elapsed: float, cost: Decimal
) -> Outcome:
    budget = isinstance(error, BudgetExceeded)
    message = f"{type(error).__name__}: {error}"
    reason = "budget_exceeded" if budget else getattr(error, "reason", "unexpected_error")
    run.services.records.update_reference(
        run.job_id,
        planned.ref,
        status=FAILED,
        error=message,
        failure_reason=reason,
        generation_time=elapsed,
        cost_nanos=to_nanos(cost),
        attempts=attempts,
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
        attempt=attempts,
        duration=round(elapsed, 3),
        outcome=reason,
        error=message,
    )
    run.emit(
        "reference_generation_failed",
        ref=planned.ref,
        error=message,
        reason=reason,
        attempts=attempts,
        will_continue=True,
    )
    return Outcome(planned, FAILED, generation_time=elapsed, cost=cost, error=message, budget_refused=budget)
