"""One reference of a job: its paid calls (studio.costs.paid_calls), then its image stored and recorded.

The call runs in one of the job's slots; the moment it settles, the slot goes on to the next reference while
fetching, stamping and storing happen in a task of their own. The image is stored first and recorded after
(its version, its calls kept), never inside a transaction. A database or storage that fails stops the job
(studio.work.queue): the reference is not failed, and its paid call is adopted by the next run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from studio.costs.paid_calls import PaidCalls, Prepared, Purchase
from studio.errors import BudgetExceeded, GenerationError, StudioError, Unavailable
from studio.generation.base import GeneratedImage, Settled
from studio.generation.png_parameters import embed_parameters, ensure_png
from studio.money import to_nanos
from studio.records.database import together
from studio.records.objects import ObjectCheck
from studio.records.references import ReferenceStatus, StoredImage
from studio.records.schema import utcnow
from studio.records.work import is_held
from studio.references.events import EventSink
from studio.references.gallery import stored_content, thumbnail
from studio.references.outcome import CANCELLED_BY_YOU, Outcome
from studio.references.planning import PlannedReference
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET, reference_version_key
from studio.work.queue import Run

log = logging.getLogger("studio.references")


@dataclass
class JobRun:
    """The lease holder's run of one job: what it reports, how it pays, what came of each reference."""

    run: Run
    emit: EventSink
    paid: PaidCalls
    total: int
    versions: dict[str, int] = field(default_factory=dict)
    """The latest stored version of each reference before this run (0: none)."""
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    started: int = 0

    @property
    def services(self) -> Services:
        return self.run.services

    @property
    def job_id(self) -> str:
        return self.run.lease.subject


async def pay(
    job: JobRun, planned: PlannedReference, prepared: Prepared | None = None
) -> tuple[Settled, Purchase] | Outcome:
    """The paid calls of one reference, run in its slot (the first `prepared` while the slot's last call
    ran): the settled call, else its outcome (failed)."""
    job.started += 1
    references = job.services.records.references

    def on_retry(attempt_number: int, error: GenerationError, wait: float) -> None:
        job.emit(
            "reference_generation_retry",
            ref=planned.ref,
            attempt=attempt_number,
            reason=error.reason,
            wait_seconds=round(wait, 3),
        )

    generating = together(
        references.update_for(job.run.lease, planned.ref, status=ReferenceStatus.GENERATING),
        job.emit.recorded(
            "reference_generation_start", ref=planned.ref, current_image=job.started, total_images=job.total
        ),
    )
    purchase = Purchase(planned.ref)
    try:
        settled = await job.paid.image(
            purchase, planned.request, started=generating, on_retry=on_retry, prepared=prepared
        )
    except (GenerationError, BudgetExceeded) as error:
        return failed(job, planned, error, purchase, time.perf_counter() - purchase.began)
    return settled, purchase


async def keep(
    job: JobRun, planned: PlannedReference, settled: Settled, purchase: Purchase
) -> Outcome | None:
    """After the slot: fetch the image, stamp its parameters, store it, then record it as the new version;
    None when the job was taken over meanwhile (its new holder keeps the image)."""
    services = job.services
    try:
        image = await settled.fetch()
    except GenerationError as error:  # charged when its call settled; there is nothing to keep
        services.records.db.post(job.paid.dropped(purchase))
        return failed(job, planned, error, purchase, time.perf_counter() - purchase.began)
    lease = job.run.lease
    if not await services.records.db.query(lambda s: is_held(s, lease)):  # a read: it waits for no write
        log.warning(
            "%s of job %s: the job was taken over; its new holder keeps the image", planned.ref, job.job_id
        )
        return None
    stored = await asyncio.to_thread(_store_files, job, planned, image)
    elapsed = time.perf_counter() - purchase.began
    complete = job.emit.recorded(
        "reference_generation_complete",
        ref=planned.ref,
        reused=False,
        cost=str(purchase.cost),
        generation_time=round(elapsed, 4),
        attempts=purchase.attempts,
    )
    version_row = _stored_image(job, planned, stored, elapsed, purchase)
    version = await services.records.db.run(
        services.records.references.store_op(job.run.lease, version_row, purchase.calls, also=complete)
    )
    if version is None:
        log.warning(
            "%s of job %s: the job was taken over; its new holder keeps the image", planned.ref, job.job_id
        )
        return None
    job.versions[planned.ref] = version
    return Outcome(planned, ReferenceStatus.STORED, generation_time=elapsed, cost=purchase.cost)


def _stamped(image: GeneratedImage, planned: PlannedReference) -> bytes:
    png = image.data if image.content_type == "image/png" else ensure_png(image.data, image.content_type)
    return embed_parameters(png, planned.parameters_text)


@dataclass(frozen=True)
class StoredFile:
    """What `_store_files` put in storage: the new image's check, and where the previous one was kept."""

    check: ObjectCheck
    kept_previous: tuple[int, str] | None


def _store_files(job: JobRun, planned: PlannedReference, image: GeneratedImage) -> StoredFile:
    """Stamp the image's parameters, keep the previous image under versions/ and put the new one at the
    canonical key (in a thread). Unavailable when storage cannot take it."""
    png = _stamped(image, planned)
    storage = job.services.storage
    previous = job.versions.get(planned.ref, 0)
    kept = None
    if previous and storage.exists(REFERENCE_BUCKET, planned.storage_key):
        kept = (previous, reference_version_key(job.job_id, planned.ref, previous))
        storage.copy(REFERENCE_BUCKET, planned.storage_key, kept[1])
    storage.put(REFERENCE_BUCKET, planned.storage_key, png, "image/png")
    _thumbnail_now(job, planned, previous + 1, png)
    return StoredFile(ObjectCheck.of(png), kept)


def _thumbnail_now(job: JobRun, planned: PlannedReference, version: int, png: bytes) -> None:
    """The review board's thumbnail, made as the image is stored, so its first view reads it from disk; a
    thumbnail that cannot be made now is made on first view instead."""
    content = stored_content(planned.params_hash, version)
    try:
        thumbnail(job.services, planned.storage_key, content_id=content, data=png)
    except (OSError, ValueError, StudioError) as error:
        log.warning("%s of job %s: no thumbnail yet (%s)", planned.ref, job.job_id, error)


def _stored_image(
    job: JobRun, planned: PlannedReference, stored: StoredFile, elapsed: float, purchase: Purchase
) -> StoredImage:
    generator = job.services.generator
    return StoredImage(
        ref=planned.ref,
        version=dict(
            version=job.versions.get(planned.ref, 0) + 1,
            prompt=planned.request.prompt,
            negative_prompt=planned.request.negative_prompt,
            seed=planned.request.seed,
            parameters_json=json.dumps(planned.parameters, sort_keys=True),
            params_hash=planned.params_hash,
            storage_key=planned.storage_key,
            provider=generator.name,
            model_version=planned.request.model if planned.request.references else generator.model_version,
            cost_nanos=to_nanos(purchase.cost),
            generation_time=elapsed,
            note=planned.note,
            worker=job.run.lease.owner,
        ),
        reference={
            "status": ReferenceStatus.STORED,
            "generation_time": elapsed,
            "cost_nanos": to_nanos(purchase.cost),
            "attempts": purchase.attempts,
            "error": None,
            "failure_reason": None,
            "updated_at": utcnow(),
        },
        kept_previous=stored.kept_previous,
        check=stored.check,
    )


def failed(
    job: JobRun, planned: PlannedReference, error: BaseException, purchase: Purchase, elapsed: float
) -> Outcome:
    """Record why a reference has no image (a cancel is not a failure) and report it."""
    if isinstance(error, Unavailable):
        raise error
    budget = isinstance(error, BudgetExceeded)
    cancelled = job.paid.cancelling and getattr(error, "reason", "") == "canceled"
    message = f"{type(error).__name__}: {error}"
    reason = (
        "budget_exceeded"
        if budget
        else "cancelled"
        if cancelled
        else getattr(error, "reason", "unexpected_error")
    )
    status = ReferenceStatus.CANCELLED if cancelled else ReferenceStatus.FAILED
    records = job.services.records
    update = records.references.update_for(
        job.run.lease,
        planned.ref,
        status=status,
        error=CANCELLED_BY_YOU if cancelled else message,
        failure_reason=reason,
        generation_time=elapsed,
        cost_nanos=to_nanos(purchase.cost),
        attempts=purchase.attempts,
    )
    event = job.emit.recorded(
        "reference_generation_failed",
        ref=planned.ref,
        error=message,
        reason=reason,
        attempts=purchase.attempts,
        will_continue=True,
    )
    records.db.post(together(update, event))
    return Outcome(
        planned, status, generation_time=elapsed, cost=purchase.cost, error=message, budget_refused=budget
    )
