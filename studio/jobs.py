"""Reference generation as durable, claimable work: submitted by the app or CLI, run by any runner.

A job is claimed with one conditional UPDATE and a lease that its runner keeps renewing, so a job left
`running` by a crashed process is picked up again once the lease expires; resuming reuses what was stored.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from decimal import Decimal

from pydantic import TypeAdapter
from sqlalchemy import or_, select, update

from studio.errors import InvalidInput, NotFound, StudioError
from studio.events import EventHandler
from studio.keys import check_id
from studio.pipeline import generate_references
from studio.plan import ScenePlan
from studio.planning import ReferenceOverride, budget_for
from studio.records.schema import JobRow, utcnow
from studio.references import ReferenceImages
from studio.services import Services

LEASE_SECONDS = 30.0
FINISHED = ("success", "partial", "failed", "cancelled")
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
        if job is not None and job.status in ("queued", "running") and job.lease_expires_at is not None:
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
        job.claim_token = None
        job.lease_expires_at = None
        job.failure_reason = None
        job.created_at = job.created_at or utcnow()
    services.records.add_event(job_id, "stage_update", {"stage": "reference_generation", "status": "queued"})
    return job_id


def claim(
    services: Services, lease_seconds: float = LEASE_SECONDS, job_id: str | None = None
) -> tuple[str, str] | None:
    """Take the oldest queued job (or one whose lease expired): (job_id, claim token), or None."""
    now = utcnow()
    claimable = or_(JobRow.status == "queued", (JobRow.status == "running") & (JobRow.lease_expires_at < now))
    token = str(uuid.uuid4())
    with services.records.session() as s:
        query = select(JobRow.id).where(claimable)
        if job_id is not None:
            query = query.where(JobRow.id == job_id)
        for candidate in s.scalars(query.order_by(JobRow.created_at).limit(5)):
            taken = s.execute(
                update(JobRow)
                .where(JobRow.id == candidate, claimable)
                .values(
                    status="running",
                    claim_token=token,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                )
            )
            if taken.rowcount:  # type: ignore[attr-defined]
                return candidate, token
    return None


def extend_lease(services: Services, job_id: str, token: str, lease_seconds: float = LEASE_SECONDS) -> bool:
    with services.records.session() as s:
        result = s.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.claim_token == token)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def run_claimed(
    services: Services,
    job_id: str,
    token: str,
    on_event: EventHandler | None = None,
    lease_seconds: float = LEASE_SECONDS,
) -> ReferenceImages | None:
    """Run a claimed job to the end, renewing its lease; the claim is released when it finishes."""
    job = services.records.get_job(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    plan = ScenePlan.model_validate_json(job.plan_json)
    overrides = _OVERRIDES.validate_json(job.overrides_json or "{}")

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            await asyncio.to_thread(extend_lease, services, job_id, token, lease_seconds)

    beating = asyncio.create_task(heartbeat())
    try:
        return await generate_references(
            services,
            job_id,
            plan,
            job.duration_seconds,
            on_event,
            concurrency=job.concurrency,
            overrides=overrides,
        )
    finally:
        beating.cancel()
        with services.records.session() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.claim_token == token)
                .values(claim_token=None, lease_expires_at=None)
            )


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
