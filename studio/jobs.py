"""Reference generation as durable, claimable work: submitted by the app or CLI, run by any runner.

A job is claimed under a lease its runner keeps renewing (studio.records.leases), so a job left `running` by a
crashed process is picked up again; other processes may join a running job and share its references.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from decimal import Decimal

from pydantic import TypeAdapter

from studio.errors import InvalidInput, NotFound, StudioError
from studio.events import EventHandler
from studio.keys import check_id
from studio.logs import log_step
from studio.pipeline import generate_references
from studio.plan import ScenePlan
from studio.planning import ReferenceOverride, budget_for
from studio.records import leases
from studio.records.schema import JobRow, as_utc, utcnow
from studio.references import ReferenceImages
from studio.services import Services

FINISHED = ("success", "partial", "failed", "cancelled")
log = logging.getLogger("studio.jobs")
_OVERRIDES = TypeAdapter(dict[str, ReferenceOverride])


def submit(
    services: Services,
    plan: ScenePlan,
    duration_seconds: float | None = None,
    overrides: dict[str, ReferenceOverride] | None = None,
    concurrency: int | None = None,
    song_id: str | None = None,
) -> str:
    """Queue a plan's generation (a new job, or a resume of an existing one) and return its job id."""
    if duration_seconds is not None and duration_seconds <= 0:
        raise InvalidInput("duration_seconds", "must be a positive number of seconds")
    job_id = str(plan.job_id)
    if song_id is not None:
        check_id("song_id", song_id)
    with services.records.session() as s:
        job = s.get(JobRow, job_id)
        if (
            job is not None
            and job.status in ("queued", "running")
            and job.lease_expires_at is not None
            and not leases.owner_gone(job.lease_owner)
            and as_utc(job.lease_expires_at) > utcnow()
        ):
            raise StudioError(f"job {job_id} is already {job.status}; cancel it or wait for it to finish")
        if job is None:
            job = JobRow(id=job_id, spent_nanos=0)
            s.add(job)
        job.plan_json = plan.model_dump_json()
        job.song_id = song_id or job.song_id
        job.overrides_json = _OVERRIDES.dump_json(overrides or {}).decode()
        job.duration_seconds = duration_seconds
        job.budget_nanos = 0
        job.concurrency = concurrency or services.settings.reference_gen_concurrency
        job.status = "queued"
        job.cancel_requested = False
        job.lease_owner = None
        job.lease_expires_at = None
        job.failure_reason = None
        job.created_at = job.created_at or utcnow()
    services.records.add_event(job_id, "stage_update", {"stage": "reference_generation", "status": "queued"})
    log_step(log, "reference job queued", job_id=job_id, song_id=song_id, stage="queue", outcome="queued")
    return job_id


@dataclass(frozen=True)
class Claim:
    """A job this process will work on; `holds_lease` when it owns the job's lease (else it joined)."""

    job_id: str
    owner: str
    holds_lease: bool


def claim(services: Services, job_id: str | None = None, owner: str | None = None) -> Claim | None:
    """Take the oldest claimable job, or join a running one that still has queued references.

    The job counts as running in this process until `run_claimed` ends.
    """
    owner = owner or leases.new_owner()
    records = services.records
    with records.running_lock:
        taken = leases.claim_job(
            records, owner, services.settings.lease_seconds, job_id, exclude=records.running
        )
        if taken is None:
            return None
        records.running.add(taken[0])
    log_step(
        log,
        "reference job claimed",
        job_id=taken[0],
        stage="queue",
        outcome="claimed" if taken[1] else "joined",
    )
    return Claim(taken[0], owner, taken[1])


async def run_claimed(
    services: Services, claimed: Claim, on_event: EventHandler | None = None
) -> ReferenceImages | None:
    """Run a claimed job to the end, renewing its lease; the lease is released when it finishes."""
    try:
        return await _run(services, claimed, on_event)
    finally:
        with services.records.running_lock:
            services.records.running.discard(claimed.job_id)


async def _run(services: Services, claimed: Claim, on_event: EventHandler | None) -> ReferenceImages | None:
    job = services.records.get_job(claimed.job_id)
    if job is None:
        raise NotFound(f"job {claimed.job_id}")
    plan = ScenePlan.model_validate_json(job.plan_json)
    overrides = _OVERRIDES.validate_json(job.overrides_json or "{}")
    lease_seconds = services.settings.lease_seconds

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            await asyncio.to_thread(
                leases.extend_job_lease, services.records, claimed.job_id, claimed.owner, lease_seconds
            )

    beating = asyncio.create_task(heartbeat()) if claimed.holds_lease else None
    try:
        return await generate_references(
            services,
            claimed.job_id,
            plan,
            job.duration_seconds,
            on_event,
            concurrency=job.concurrency,
            overrides=overrides,
            owner=claimed.owner,
        )
    finally:
        if beating is not None:
            beating.cancel()
            leases.release_job(services.records, claimed.job_id, claimed.owner)


def cancel(services: Services, job_id: str) -> str:
    """Stop a job: a queued one ends at once, a running one starts no new image. Returns the new status."""
    job = services.records.get_job(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    if job.status == "queued":
        services.records.finish_job(job_id, "cancelled", job.result_json, None)
        return "cancelled"
    if job.status == "running":
        services.records.request_cancel(job_id)
        return "cancelling"
    return job.status


def estimate_cost(
    services: Services, plan: ScenePlan, duration_seconds: float | None
) -> tuple[Decimal, Decimal]:
    """What the plan should cost with the current image backend, and the job's budget."""
    from studio.planning import estimate, plan_references

    planned = plan_references(plan, services.generator)
    return estimate(planned, services.generator), budget_for(services.settings, duration_seconds)


def job_overrides(services: Services, job_id: str) -> dict[str, ReferenceOverride]:
    job = services.records.get_job(job_id)
    return _OVERRIDES.validate_json(job.overrides_json or "{}") if job else {}


def result_of(services: Services, job_id: str) -> ReferenceImages | None:
    job = services.records.get_job(job_id)
    if job is None or not job.result_json:
        return None
    return ReferenceImages.model_validate(json.loads(job.result_json))
