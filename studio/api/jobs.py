"""Reference jobs over HTTP: queue a plan, read where it stands, follow its events, cancel, review, export."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from studio.access.roles import require
from studio.api.callers import Caller, ServicesHere
from studio.api.models import (
    ASKED_BY_KEY,
    JobLinks,
    JobQueued,
    JobState,
    JobSubmission,
    ReviewRequest,
    refusals,
)
from studio.errors import InvalidInput, NotFound
from studio.plans.scene_plan import parse_plan
from studio.records.jobs import ACTIVE, FINISHED, Job
from studio.references.jobs import Cancellation, cancel, result_of_row, submit
from studio.review.export import ExportManifest, export_manifest
from studio.review.gate import ReviewDecision, approve, reject
from studio.services import Services

router = APIRouter(prefix="/jobs", tags=["jobs"], responses={**ASKED_BY_KEY, **refusals(r404="no such job")})
EVENT_POLL_SECONDS = 0.2
"""How often a stream reads the job's new events while it runs."""


def _job(services: Services, job_id: str) -> Job:
    job = services.records.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    return job


@router.post("", status_code=202, response_model=JobQueued, responses=refusals(r409="the job runs already"))
def queue_job(body: JobSubmission, services: ServicesHere, actor: Caller) -> JobQueued:
    """Queue (or resume) the plan's job; the server runs queued work. 422 names every problem of the plan."""
    require(actor, "create")
    plan = parse_plan(body.plan)
    job_id = submit(services, plan, body.duration_seconds, None, body.concurrency, body.song_id, actor=actor)
    return JobQueued(job_id=job_id, status=_job(services, job_id).status, links=JobLinks.of(job_id))


@router.get("/{job_id}", response_model=JobState)
def job_state(job_id: str, services: ServicesHere, _actor: Caller) -> JobState:
    """Status, counts, and the ReferenceImages document once the job has ended."""
    job = _job(services, job_id)
    plan = json.loads(job.plan_json)
    counts = Counter(str(row.status) for row in services.records.references.of_job(job_id).values())
    return JobState(
        job_id=job.id,
        status=job.status,
        song_id=job.song_id,
        total=len(plan.get("scenes", [])) + len(plan.get("characters", [])),
        counts=dict(counts),
        cancel_requested=bool(job.cancel_requested),
        result=result_of_row(job) if job.status in FINISHED else None,
        links=JobLinks.of(job_id),
    )


def _known_job(job_id: str, services: ServicesHere, _actor: Caller) -> Services:
    _job(services, job_id)
    return services


def _after(last_event_id: str | None, after: int | None) -> int:
    if after is not None:
        return after
    if last_event_id is None or not last_event_id.strip():
        return 0
    try:
        return max(0, int(last_event_id.strip()))
    except ValueError:
        raise InvalidInput("Last-Event-ID", "must be the id of an event (a whole number)") from None


@router.get("/{job_id}/events", response_class=EventSourceResponse)
async def job_events(
    job_id: str,
    request: Request,
    services: Annotated[Services, Depends(_known_job)],
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[
        int | None, Query(ge=0, description="as Last-Event-ID, for clients without headers")
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: `id` the event's sequence number, `event` its type, `data` its JSON;
    `Last-Event-ID` resumes after that event; the stream ends after the job's last event."""
    seen = _after(last_event_id, after)
    records = services.records
    while True:
        job = await asyncio.to_thread(records.jobs.get, job_id)
        rows = await asyncio.to_thread(records.events.after, job_id, seen)  # read after the status: complete
        for row in rows:
            seen = row.id
            yield ServerSentEvent(raw_data=row.payload_json, event=row.type, id=str(row.id))
        if job is None or job.status not in ACTIVE or await request.is_disconnected():
            return
        await asyncio.sleep(EVENT_POLL_SECONDS)


@router.post("/{job_id}/cancel", response_model=Cancellation)
def cancel_job(job_id: str, services: ServicesHere, actor: Caller) -> Cancellation:
    return Cancellation(job_id=job_id, status=cancel(services, job_id, actor=actor))


@router.post("/{job_id}/references/{ref}/review", response_model=ReviewDecision)
def review_reference(
    job_id: str, ref: str, body: ReviewRequest, services: ServicesHere, actor: Caller
) -> ReviewDecision:
    """Approve or reject the reference's latest version as the caller (reviewers only)."""
    if body.decision == "approve":
        if body.reason is not None:
            raise InvalidInput("reason", "only goes with a rejection")
        return approve(services, job_id, ref, actor=actor)
    return reject(services, job_id, ref, body.reason or "", actor=actor)


@router.get(
    "/{job_id}/manifest",
    response_model=ExportManifest,
    responses=refusals(r409="references still pending review (`pending`), or offline previews not allowed"),
)
def manifest(
    job_id: str,
    services: ServicesHere,
    actor: Caller,
    allow_preview: Annotated[bool, Query(description="export offline previews too")] = False,
) -> ExportManifest:
    """The export document: 409 with the pending references until all are approved, 409 for offline
    previews unless `allow_preview=true`."""
    return export_manifest(services, job_id, actor=actor, allow_preview=allow_preview)
