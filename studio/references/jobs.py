"""Reference generation as durable work: submitted by the app, the CLI or the API, run by whoever claims it.

The job is a unit of work in the queue (studio.work.queue): one live lease holder runs it. `generate` is
what a user's command does: it submits the plan, runs the job if it can claim it, and otherwise follows the
process that holds it and returns that run's result, paying nothing; when the holder stops renewing its
lease, it takes over.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import cast
from uuid import UUID

from pydantic import BaseModel, TypeAdapter

from studio.access.roles import Actor, require
from studio.errors import InvalidInput, NotFound, StudioError
from studio.inputs.text_and_numbers import CONCURRENCY, song_duration
from studio.logs import log_step
from studio.money import to_nanos
from studio.plans.scene_plan import ScenePlan
from studio.records.jobs import ACTIVE, FINISHED, Job, JobRequest, JobStatus
from studio.records.references import ReferenceStatus
from studio.records.work import WorkRow
from studio.references.events import Event, EventHandler, EventType
from studio.references.planning import ReferenceOverride, budget_for
from studio.references.result import ReferenceImages
from studio.services import Services
from studio.storage.keys import check_id
from studio.work import process_owner
from studio.work.queue import MAX_ROUNDS, run_claimed, run_or_follow

__all__ = ["ACTIVE", "FINISHED", "Generated", "cancel", "generate", "generate_references", "submit"]

log = logging.getLogger("studio.references")
_OVERRIDES = TypeAdapter(dict[str, ReferenceOverride])


@dataclass(frozen=True)
class Generated:
    """How `generate` ended: the job's final status and its result (None when it fell back to text-only)."""

    job_id: str
    status: str
    result: ReferenceImages | None
    followed: bool = False
    """True when another process ran the job and this one followed it."""


def _request(
    services: Services,
    plan: ScenePlan,
    duration_seconds: float | None,
    overrides: dict[str, ReferenceOverride] | None,
    concurrency: int | None,
    song_id: str | None,
) -> JobRequest:
    duration_seconds = song_duration(duration_seconds)
    if concurrency is not None:
        CONCURRENCY.check("concurrency", concurrency)
    if song_id is not None:
        check_id("song_id", song_id)
        if services.records.songs.song(song_id) is None:
            raise InvalidInput(
                "song",
                f"no song {song_id!r}: create it on Characters, or with `character upload` or `template`",
            )
    return JobRequest(
        job_id=str(plan.job_id),
        plan_json=plan.model_dump_json(),
        budget_nanos=to_nanos(budget_for(services.settings, duration_seconds)),
        duration_seconds=duration_seconds,
        concurrency=concurrency or services.settings.reference_gen_concurrency,
        overrides_json=_OVERRIDES.dump_json(overrides or {}).decode(),
        song_id=song_id,
    )


def submit(
    services: Services,
    plan: ScenePlan,
    duration_seconds: float | None = None,
    overrides: dict[str, ReferenceOverride] | None = None,
    concurrency: int | None = None,
    song_id: str | None = None,
    *,
    actor: Actor | None = None,
) -> str:
    """Queue a plan's generation (a new job, or a resume of an existing one) and return its job id.

    Only creators generate (`actor`; without one, the local operator)."""
    require(actor, "create")
    request = _request(services, plan, duration_seconds, overrides, concurrency, song_id)
    job, queued = services.records.jobs.submit(request)
    if not queued:
        raise StudioError(f"job {job.id} is already {job.status}; cancel it or wait for it to finish")
    services.records.events.add(job.id, "stage_update", {"stage": "reference_generation", "status": "queued"})
    log_step(log, "reference job queued", job_id=job.id, song_id=song_id, stage="queue", outcome="queued")
    return job.id


async def generate(
    services: Services,
    plan: ScenePlan,
    duration_seconds: float | None = None,
    on_event: EventHandler | None = None,
    *,
    concurrency: int | None = None,
    overrides: dict[str, ReferenceOverride] | None = None,
    song_id: str | None = None,
    stop: asyncio.Event | None = None,
    actor: Actor | None = None,
) -> Generated:
    """Generate (or resume) a plan's references: run the job, or follow the process that runs it.

    `stop` (a signal) hands a job this process runs back to the queue: status `interrupted`. Only creators
    generate (`actor`; without one, the local operator).
    """
    require(actor, "create")
    request = await asyncio.to_thread(
        _request, services, plan, duration_seconds, overrides, concurrency, song_id
    )
    records = services.records
    followed = False
    for _ in range(MAX_ROUNDS):
        job, claimed = await records.jobs.start(request, process_owner(), services.settings.lease_seconds)
        if claimed is not None:
            await run_claimed(services, claimed, stop=stop, on_event=on_event)
            outcome = await records.work.aget(job.work_id)
        else:
            followed = True
            shown = _Shown(services, job.id, on_event)
            await shown.start()
            outcome = (
                await run_or_follow(services, job.work_id, stop=stop, on_event=on_event, on_poll=shown)
            ).work
        final = await records.jobs.aget(job.id)
        assert final is not None and outcome is not None
        if stop is not None and stop.is_set() and final.status in ACTIVE:
            return Generated(job.id, "interrupted", None, followed)
        if final.status in FINISHED and _same_request(final, request):
            return Generated(job.id, final.status, result_of_row(final), followed)
    raise StudioError(f"job {request.job_id} keeps being changed by other processes; try again later")


async def generate_references(
    services: Services,
    job_id: str | UUID,
    plan: ScenePlan,
    duration_seconds: float | None = None,
    on_event: EventHandler | None = None,
    *,
    concurrency: int | None = None,
    overrides: dict[str, ReferenceOverride] | None = None,
    song_id: str | None = None,
) -> ReferenceImages | None:
    """The seed's entry point: generate, or resume, a plan's references; None when the partial-success
    rule fails (clip generation then falls back to text-only prompts)."""
    if str(job_id) != str(plan.job_id):
        raise InvalidInput("job_id", f"{job_id} does not match the plan's job_id {plan.job_id}")
    generated = await generate(
        services,
        plan,
        duration_seconds,
        on_event,
        concurrency=concurrency,
        overrides=overrides,
        song_id=song_id,
    )
    return generated.result


def _same_request(job: Job, request: JobRequest) -> bool:
    return (job.plan_json, job.overrides_json or "{}", job.concurrency) == (
        request.plan_json,
        request.overrides_json,
        request.concurrency,
    )


class _Shown:
    """Shows another process's run of a job as it goes: its recorded events, each once, to `on_event`."""

    def __init__(self, services: Services, job_id: str, on_event: EventHandler | None) -> None:
        self.records = services.records
        self.job_id = job_id
        self.on_event = on_event
        self.seen = 0

    async def start(self) -> None:
        rows = await asyncio.to_thread(self.records.events.after, self.job_id)
        self.seen = max((row.id for row in rows), default=0)

    async def __call__(self, _work: WorkRow) -> None:
        if self.on_event is None:
            return
        for row in await asyncio.to_thread(self.records.events.after, self.job_id, self.seen):
            self.seen = row.id
            try:
                self.on_event(
                    Event(
                        type=cast(EventType, row.type), job_id=self.job_id, data=json.loads(row.payload_json)
                    )
                )
            except Exception:
                log.exception("event handler failed while following job %s", self.job_id)


class Cancellation(BaseModel):
    """What `cancel` answers (`cancel --json`, `POST /api/v1/jobs/{job_id}/cancel`)."""

    job_id: str
    status: str
    """`cancelled`, `cancelling` while its holder stops it, or the final status of a job that had ended."""


def cancel(services: Services, job_id: str, *, actor: Actor | None = None) -> str:
    """Stop a job: a queued one ends `cancelled` at once; a running one starts no new image, its calls in
    flight are cancelled at the provider, and its holder (or whoever takes it over) ends it `cancelled`.
    Returns the status now. Only creators cancel (`actor`; without one, the local operator)."""
    require(actor, "create")
    job = services.records.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    services.records.work.cancel(job.work_id, "cancelled by request")
    now = services.records.jobs.get(job_id)
    assert now is not None
    return "cancelling" if now.status == JobStatus.RUNNING else now.status


class Estimate(BaseModel):
    """What generating a plan would cost now: only images that are not stored already are paid for."""

    images: int
    to_pay: int
    reused: int
    cost: Decimal
    budget: Decimal


def estimate_cost(
    services: Services,
    plan: ScenePlan,
    duration_seconds: float | None,
    overrides: dict[str, ReferenceOverride] | None = None,
    song_id: str | None = None,
) -> Estimate:
    """The estimate shown before a run: images stored with identical parameters are reused at $0."""
    from studio.characters.character_models import lead_conditioning
    from studio.characters.priority import primary_image
    from studio.costs.estimates import image_price
    from studio.references.planning import plan_references

    lead = primary_image(services, song_id) if song_id else None
    lead_model, lead_references = lead_conditioning(services, song_id)
    planned = plan_references(plan, services.generator, overrides, lead, lead_model, lead_references)
    rows = services.records.references.of_job(str(plan.job_id))
    reused = [
        p
        for p in planned
        if (row := rows.get(p.ref))
        and row.status == ReferenceStatus.STORED
        and row.params_hash == p.params_hash
    ]
    paid = [p for p in planned if p not in reused]
    price = image_price(services)
    return Estimate(
        images=len(planned),
        to_pay=len(paid),
        reused=len(reused),
        cost=sum((price(p.request) for p in paid), Decimal("0")),
        budget=budget_for(services.settings, duration_seconds),
    )


def job_overrides(services: Services, job_id: str) -> dict[str, ReferenceOverride]:
    job = services.records.jobs.get(job_id)
    return _OVERRIDES.validate_json(job.overrides_json or "{}") if job else {}


def result_of_row(job: Job) -> ReferenceImages | None:
    if not job.result_json or job.status == JobStatus.FAILED:
        return None
    return ReferenceImages.model_validate(json.loads(job.result_json))


def result_of(services: Services, job_id: str) -> ReferenceImages | None:
    job = services.records.jobs.get(job_id)
    return result_of_row(job) if job is not None else None
