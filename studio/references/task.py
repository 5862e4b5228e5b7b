"""One reference: reserve, generate (or adopt) with classified retries, store at once, record it and its cost.

Database writes go to the records' thread: charges and prediction ids are queued (`post`) without waiting,
ahead of any later reservation, and the version is awaited (it says whether the lease still holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from studio.costs.budget import Budget
from studio.errors import BudgetExceeded, GenerationError
from studio.generation.base import GeneratedImage, GenerationRequest, Settled
from studio.generation.png_parameters import embed_parameters, ensure_png
from studio.generation.retry import with_retries
from studio.money import to_nanos
from studio.records.leases import Lease
from studio.records.ledger import LedgerEntry
from studio.records.objects import ObjectCheck
from studio.records.references import StoredImage
from studio.records.schema import utcnow
from studio.references.events import EventSink
from studio.references.outcome import CANCELLED, CANCELLED_BY_YOU, FAILED, STORED, Outcome
from studio.references.planning import PlannedReference
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET, reference_version_key
from studio.work import LeaseLost

log = logging.getLogger("studio.references.jobs")


@dataclass
class InFlight:
    """A paid call under way: what it asked for, since when, and its prediction id once known."""

    request: GenerationRequest
    since: datetime
    prediction_id: str | None = None


@dataclass
class Run:
    """The lease holder's run of one job: who it is, what it reports, its budget and its calls in flight."""

    services: Services
    lease: Lease
    emit: EventSink
    budget: Budget
    total: int
    versions: dict[str, int] = field(default_factory=dict)
    """The latest stored version of each reference before this run (0: none)."""
    adopt: dict[str, list[tuple[str, Decimal]]] = field(default_factory=dict)
    """Predictions an earlier holder paid for, per reference, with what was reserved for each."""
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    started: int = 0
    cancelling: bool = False

    @property
    def job_id(self) -> str:
        return self.lease.id

    def post(self, op: Callable[[Any], Any]) -> None:
        self.services.records.db.post(op)


@dataclass
class Attempts:
    """What the calls made for one reference did: how many, what they cost, their prediction ids."""

    started: float = field(default_factory=time.perf_counter)
    count: int = 0
    cost: Decimal = Decimal("0")
    predictions: list[str] = field(default_factory=list)
    reservation: asyncio.Future[Decimal] | None = None


async def pay(
    run: Run, planned: PlannedReference, reservation: asyncio.Future[Decimal] | None = None
) -> tuple[Settled, Attempts] | Outcome | None:
    """The paid calls of one reference, run in its slot: reserve, predict (or adopt) with classified
    retries, queue each charge. The settled call, else its outcome (failed), else None (job taken over).

    `reservation` is the first call's, made ahead while the slot's previous call was in flight.
    """
    state = Attempts(reservation=reservation)
    run.started += 1
    run.emit("reference_generation_start", ref=planned.ref, current_image=run.started, total_images=run.total)

    def on_retry(attempt_number: int, error: GenerationError, wait: float) -> None:
        run.emit(
            "reference_generation_retry",
            ref=planned.ref,
            attempt=attempt_number,
            reason=error.reason,
            wait_seconds=round(wait, 3),
        )

    try:
        settled = await with_retries(
            partial(_attempt, run, planned, state),
            attempts=run.services.settings.retry_attempts + len(run.adopt.get(planned.ref, [])),
            backoff=run.services.settings.retry_backoff,
            on_retry=on_retry,
        )
    except LeaseLost:
        return None
    except (GenerationError, BudgetExceeded) as exc:
        return _failed(run, planned, exc, state)
    except Exception as exc:
        log.exception("unexpected error generating %s of job %s", planned.ref, run.job_id)
        return _failed(run, planned, exc, state)
    return settled, state


async def keep(run: Run, planned: PlannedReference, settled: Settled, state: Attempts) -> Outcome | None:
    """After the slot: fetch the image, stamp its parameters, store it and record it as the new version;
    None when the job was taken over meanwhile."""
    elapsed = time.perf_counter() - state.started
    try:
        image = await settled.fetch()
        kept = await asyncio.to_thread(_store_files, run, planned, image)
        (version,) = await run.services.records.references.store(
            run.lease, [_stored_image(run, planned, kept, elapsed, state)], state.predictions
        )
    except GenerationError as exc:  # charged when its prediction settled
        return _failed(run, planned, exc, state)
    except Exception as exc:
        log.exception("unexpected error storing %s of job %s", planned.ref, run.job_id)
        return _failed(run, planned, exc, state)
    if version is None:
        log.warning(
            "%s of job %s: the job was taken over; its new holder keeps the image", planned.ref, run.job_id
        )
        return None
    run.versions[planned.ref] = version
    run.emit(
        "reference_generation_complete",
        ref=planned.ref,
        reused=False,
        cost=str(state.cost),
        generation_time=round(elapsed, 4),
        attempts=state.count,
    )
    return Outcome(planned, STORED, generation_time=elapsed, cost=state.cost)


async def _attempt(run: Run, planned: PlannedReference, state: Attempts) -> Settled:
    """One paid call (or one adopted from an earlier holder): reserve, call, and queue its charge."""
    generator = run.services.generator
    request = planned.request
    state.count += 1
    adopted = run.adopt.get(planned.ref)
    if adopted:
        prediction_id, reserved = adopted.pop(0)
        state.predictions.append(prediction_id)
        call = generator.adopt(prediction_id, request)
    else:
        reserved = generator.max_cost(request)
        if state.reservation is not None:
            reservation, state.reservation = state.reservation, None
            reserved = await reservation
        elif reserved:
            await run.budget.reserve(reserved, planned.ref)
        run.post(
            run.services.records.references.update_for(
                run.lease,
                planned.ref,
                status="generating",
                started_epoch=run.lease.epoch,
                started_at=utcnow(),
            )
        )
        flight = run.in_flight[planned.ref] = InFlight(request, utcnow())

        def on_prediction(prediction_id: str) -> None:
            flight.prediction_id = prediction_id
            state.predictions.append(prediction_id)
            run.post(
                run.services.records.ledger.record_prediction_op(
                    prediction_id, generator.name, planned.ref, job_id=run.job_id, epoch=run.lease.epoch
                )
            )

        call = generator.predict(request, on_prediction)
    try:
        settled = await call
    except GenerationError as exc:
        if exc.prediction_id or exc.charged:
            _charge(run, planned, reserved, exc.charged, exc.units, None, exc.prediction_id)
        elif reserved:  # no prediction was made (refused, unreachable): nothing to ledger, the room goes back
            run.post(run.services.records.ledger.release_op(run.lease, reserved))
            run.budget.settle(reserved, Decimal(0))
        state.cost += exc.charged
        raise
    finally:
        run.in_flight.pop(planned.ref, None)
    _charge(run, planned, reserved, settled.cost, settled.units, settled.unit_price, settled.prediction_id)
    state.cost += settled.cost
    return settled


def reserve_ahead(run: Run, planned: PlannedReference, concurrency: int) -> asyncio.Future[Decimal] | None:
    """Reserve the first call of `planned` now, while the slot's current call is in flight, so it can start
    the moment that one ends; only when the budget keeps room for a whole round of calls beside it."""
    amount = run.services.generator.max_cost(planned.request)
    if not amount or planned.ref in run.adopt:
        return None
    confirmed = run.budget.reserve_if_room(amount, planned.ref, amount * concurrency)
    if confirmed is None:
        return None

    async def reserved() -> Decimal:
        if await confirmed:
            return amount
        await run.budget.reserve(amount, planned.ref)  # refused: the records knew of less room
        return amount

    return asyncio.ensure_future(reserved())


async def give_back(run: Run, reservation: asyncio.Future[Decimal] | None) -> None:
    """A reservation made ahead for a call that will not start (the job is being cancelled)."""
    if reservation is None:
        return
    reservation.cancel()
    with contextlib.suppress(asyncio.CancelledError, BudgetExceeded, LeaseLost):
        amount = await reservation
        run.post(run.services.records.ledger.release_op(run.lease, amount))
        run.budget.settle(amount, Decimal(0))


def _charge(
    run: Run,
    planned: PlannedReference,
    reserved: Decimal,
    amount: Decimal,
    units: Decimal,
    unit_price: Decimal | None,
    prediction_id: str | None,
) -> None:
    """Queue the ledger line of a call with the figure the provider reported, then free its reservation."""
    generator = run.services.generator
    entry = LedgerEntry(
        job_id=run.job_id,
        stage="generation",
        provider=generator.name,
        model=generator.model_version,
        ref=planned.ref,
        amount=amount,
        units=units,
        unit_name="second" if units else "image",
        unit_price=unit_price if unit_price is not None else (amount / units if units else Decimal(0)),
        prediction_id=prediction_id,
    )
    run.post(run.services.records.ledger.charge_op(entry, run.lease, reserved))
    run.budget.settle(reserved, amount)


def _stamped(image: GeneratedImage, planned: PlannedReference) -> bytes:
    png = image.data if image.content_type == "image/png" else ensure_png(image.data, image.content_type)
    return embed_parameters(png, planned.parameters_text)


@dataclass(frozen=True)
class StoredFile:
    """What `_store_files` put in storage: the new image's check, and where the previous one was kept."""

    check: ObjectCheck
    kept_previous: tuple[int, str] | None


def _store_files(run: Run, planned: PlannedReference, image: GeneratedImage) -> StoredFile:
    """Stamp the image's parameters, keep the previous image under versions/ and put the new one at the
    canonical key (in a thread)."""
    png = _stamped(image, planned)
    storage = run.services.storage
    previous = run.versions.get(planned.ref, 0)
    kept = None
    if previous and storage.exists(REFERENCE_BUCKET, planned.storage_key):
        kept = (previous, reference_version_key(run.job_id, planned.ref, previous))
        storage.copy(REFERENCE_BUCKET, planned.storage_key, kept[1])
    storage.put(REFERENCE_BUCKET, planned.storage_key, png, "image/png")
    return StoredFile(ObjectCheck.of(png), kept)


def _stored_image(
    run: Run, planned: PlannedReference, stored: StoredFile, elapsed: float, state: Attempts
) -> StoredImage:
    generator = run.services.generator
    return StoredImage(
        ref=planned.ref,
        version=dict(
            version=run.versions.get(planned.ref, 0) + 1,
            prompt=planned.request.prompt,
            negative_prompt=planned.request.negative_prompt,
            seed=planned.request.seed,
            parameters_json=json.dumps(planned.parameters, sort_keys=True),
            params_hash=planned.params_hash,
            storage_key=planned.storage_key,
            provider=generator.name,
            model_version=generator.model_version,
            cost_nanos=to_nanos(state.cost),
            generation_time=elapsed,
            note=planned.note,
            worker=run.lease.owner,
        ),
        reference={
            "status": STORED,
            "generation_time": elapsed,
            "cost_nanos": to_nanos(state.cost),
            "attempts": state.count,
            "error": None,
            "failure_reason": None,
            "updated_at": utcnow(),
        },
        kept_previous=stored.kept_previous,
        check=stored.check,
    )


def _failed(run: Run, planned: PlannedReference, error: BaseException, state: Attempts) -> Outcome:
    elapsed = time.perf_counter() - state.started
    budget = isinstance(error, BudgetExceeded)
    cancelled = run.cancelling and getattr(error, "reason", "") == "canceled"
    message = f"{type(error).__name__}: {error}"
    reason = (
        "budget_exceeded"
        if budget
        else "cancelled"
        if cancelled
        else getattr(error, "reason", "unexpected_error")
    )
    status = CANCELLED if cancelled else FAILED
    records = run.services.records
    run.post(
        records.references.update_for(
            run.lease,
            planned.ref,
            status=status,
            error=CANCELLED_BY_YOU if cancelled else message,
            failure_reason=reason,
            generation_time=elapsed,
            cost_nanos=to_nanos(state.cost),
            attempts=state.count,
        )
    )
    run.post(records.ledger.mark_used_op(state.predictions))
    run.emit(
        "reference_generation_failed",
        ref=planned.ref,
        error=message,
        reason=reason,
        attempts=state.count,
        will_continue=True,
    )
    return Outcome(
        planned, status, generation_time=elapsed, cost=state.cost, error=message, budget_refused=budget
    )
