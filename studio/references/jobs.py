"""Reference generation as durable work: submitted by the app or the CLI, run by whoever claims it.

The job is the unit of work (studio.work): one live lease holder runs it. `generate` is what a user's command
does: it submits the plan, runs the job if it can claim it, and otherwise follows the process that holds it
and returns that run's result, paying nothing; when the holder stops renewing its lease, it takes over.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast
from uuid import UUID

from pydantic import BaseModel, TypeAdapter

from studio.access.roles import Actor, require
from studio.errors import InvalidInput, NotFound, StudioError
from studio.inputs.text_and_numbers import CONCURRENCY, song_duration
from studio.logs import log_step
from studio.money import to_nanos
from studio.plans.scene_plan import ScenePlan
from studio.records.jobs import ACTIVE, FINISHED, JobRequest
from studio.records.leases import live
from studio.records.schema import JobRow
from studio.references.events import Event, EventHandler, EventType
from studio.references.planning import ReferenceOverride, budget_for
from studio.references.result import ReferenceImages
from studio.references.run import RunEnd, run_job
from studio.services import Services
from studio.storage.keys import check_id
from studio.work import follow, process_owner

__all__ = [
    "ACTIVE",
    "FINISHED",
    "Generated",
    "cancel",
    "generate",
    "generate_references",
    "run_next",
    "submit",
]

log = logging.getLogger("studio.references.jobs")
T = TypeVar("T")
_OVERRIDES = TypeAdapter(dict[str, ReferenceOverride])
MAX_ROUNDS = 5
"""Follow-then-claim rounds before `generate` gives up on a job others keep changing."""
FOLLOW_POLL_SECONDS = 0.25


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
        assert job is not None
        if claimed is not None:
            lease = claimed.lease
            if lease.taken_over_from:
                log.warning("job %s: taking over from %s, whose lease expired", job.id, lease.taken_over_from)
            end = await run_job(services, claimed, on_event, stop)
            if end.how == "finished":
                assert end.status is not None
                return Generated(job.id, end.status, end.result, followed)
            if end.how == "handed_back":
                return Generated(job.id, "interrupted", None, followed)
            continue
        followed = True
        final = await _until_stopped(_follow(services, job.id, on_event), stop)
        if final is _STOPPED:
            return Generated(job.id, "interrupted", None, followed)
        if final is None:
            raise NotFound(f"job {job.id} was deleted while it ran")
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


_STOPPED: Any = object()


async def _until_stopped(work: Awaitable[T], stop: asyncio.Event | None) -> T:
    """`work`'s result, or _STOPPED when `stop` is set first (the work is then cancelled)."""
    task = asyncio.ensure_future(work)
    if stop is None:
        return await task
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return cast(T, _STOPPED)


def _same_request(job: JobRow, request: JobRequest) -> bool:
    return (job.plan_json, job.overrides_json or "{}", job.concurrency) == (
        request.plan_json,
        request.overrides_json,
        request.concurrency,
    )


async def _follow(services: Services, job_id: str, on_event: EventHandler | None) -> JobRow | None:
    """Show another process's run of the job as it goes (its recorded events) until it ends or its holder
    stops renewing the lease; returns the job row then."""
    records = services.records
    seen = max((row.id for row in await asyncio.to_thread(records.events.after, job_id)), default=0)
    holder = await records.jobs.aget(job_id)
    if holder is not None and live(holder):
        log.info("job %s is being generated by %s; following it", job_id, holder.lease_owner)

    async def show(_row: JobRow) -> None:
        nonlocal seen
        if on_event is None:
            return
        for row in await asyncio.to_thread(records.events.after, job_id, seen):
            seen = row.id
            try:
                on_event(
                    Event(type=cast(EventType, row.type), job_id=job_id, data=json.loads(row.payload_json))
                )
            except Exception:
                log.exception("event handler failed while following job %s", job_id)

    final = await follow(
        lambda: records.jobs.aget(job_id),
        lambda row: row.status in FINISHED,
        poll_seconds=FOLLOW_POLL_SECONDS,
        on_poll=show,
    )
    if final is not None:
        await show(final)
    return final


async def run_next(services: Services, stop: asyncio.Event | None = None) -> RunEnd | None:
    """Claim the oldest claimable job and run it (a worker's step); None when there is none."""
    _, claimed = await services.records.jobs.start(None, process_owner(), services.settings.lease_seconds)
    if claimed is None:
        return None
    lease = claimed.lease
    log_step(
        log,
        "reference job claimed",
        job_id=lease.id,
        stage="queue",
        outcome="taken over" if lease.taken_over_from else "claimed",
    )
    try:
        return await run_job(services, claimed, stop=stop)
    except Exception:
        log.exception("reference job %s failed unexpectedly", lease.id)
        await services.records.jobs.finish(lease, "failed", None, "unexpected_error")
        return RunEnd("finished", None, "failed")


def cancel(services: Services, job_id: str) -> str:
    """Stop a job: a queued one ends `cancelled` at once; a running one starts no new image, its calls in
    flight are cancelled at the provider, and its holder ends it `cancelled`. Returns the status now."""
    job = services.records.jobs.request_cancel(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    return "cancelling" if job.status == "running" else job.status


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
    from studio.characters.priority import primary_image
    from studio.references.planning import estimate, plan_references

    lead = primary_image(services, song_id) if song_id else None
    planned = plan_references(plan, services.generator, overrides, lead)
    rows = services.records.references.of_job(str(plan.job_id))
    reused = [
        p
        for p in planned
        if (row := rows.get(p.ref)) and row.status == "stored" and row.params_hash == p.params_hash
    ]
    paid = [p for p in planned if p not in reused]
    return Estimate(
        images=len(planned),
        to_pay=len(paid),
        reused=len(reused),
        cost=estimate(paid, services.generator),
        budget=budget_for(services.settings, duration_seconds),
    )


def job_overrides(services: Services, job_id: str) -> dict[str, ReferenceOverride]:
    job = services.records.jobs.get(job_id)
    return _OVERRIDES.validate_json(job.overrides_json or "{}") if job else {}


def result_of_row(job: JobRow) -> ReferenceImages | None:
    if not job.result_json or job.status == "failed":
        return None
    return ReferenceImages.model_validate(json.loads(job.result_json))


def result_of(services: Services, job_id: str) -> ReferenceImages | None:
    job = services.records.jobs.get(job_id)
    return result_of_row(job) if job is not None else None
