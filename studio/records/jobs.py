"""Reference jobs: created once (insert-or-get) with their work in the queue, and read as a `Job`.

A job row keeps the plan and request of its latest run and how that run ended; its queue status, lease and
budget are its work's (studio.records.work). `Job` is the two read together, with the one status people see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from studio.records.database import Database
from studio.records.schema import JobRow, utcnow
from studio.records.work import (
    Claimed,
    Lease,
    WorkKind,
    WorkRow,
    WorkStatus,
    claim_in,
    ensure_in,
    finish_in,
    held,
    live,
    queue_in,
    requeue_in,
)


class JobStatus(StrEnum):
    """A reference job as people see it: its work's while it is to run, then how its run ended."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"
    """The partial-success rule failed (clip generation falls back to text-only), or the work failed."""
    CANCELLED = "cancelled"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED = (JobStatus.SUCCESS, JobStatus.PARTIAL, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class Job:
    """A job with its work: what pages, the CLI and the run read."""

    id: str
    work_id: str
    status: JobStatus
    plan_json: str
    duration_seconds: float | None
    concurrency: int
    provider: str
    model_version: str
    result_json: str | None
    failure_reason: str | None
    song_id: str | None
    overrides_json: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    budget_nanos: int
    spent_nanos: int
    reserved_nanos: int
    cancel_requested: bool
    lease_owner: str | None
    lease_epoch: int
    lease_expires_at: datetime | None
    attempts: int

    @classmethod
    def of(cls, job: JobRow, work: WorkRow) -> Job:
        return cls(
            id=job.id,
            work_id=work.id,
            status=status_of(job, work),
            plan_json=job.plan_json,
            duration_seconds=job.duration_seconds,
            concurrency=job.concurrency,
            provider=job.provider,
            model_version=job.model_version,
            result_json=job.result_json,
            failure_reason=job.failure_reason,
            song_id=job.song_id,
            overrides_json=job.overrides_json,
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            budget_nanos=work.budget_nanos,
            spent_nanos=work.spent_nanos,
            reserved_nanos=work.reserved_nanos,
            cancel_requested=work.cancel_requested,
            lease_owner=work.lease_owner,
            lease_epoch=work.lease_epoch,
            lease_expires_at=work.lease_expires_at,
            attempts=work.attempts,
        )


def status_of(job: JobRow, work: WorkRow) -> JobStatus:
    if work.status in (WorkStatus.QUEUED, WorkStatus.RUNNING):
        return JobStatus(work.status)
    if job.outcome is not None:
        return JobStatus(job.outcome)
    return JobStatus.CANCELLED if work.status == WorkStatus.CANCELLED else JobStatus.FAILED


def _joined() -> Select[JobRow, WorkRow]:
    return select(JobRow, WorkRow).join(WorkRow, WorkRow.id == JobRow.work_id)


def job_in(s: Session, job_id: str) -> Job | None:
    found = s.execute(_joined().where(JobRow.id == job_id).execution_options(populate_existing=True)).first()
    return Job.of(found[0], found[1]) if found is not None else None


@dataclass(frozen=True)
class JobRequest:
    """What a run of a job is asked to do; a new request replaces the last one unless the job is live."""

    job_id: str
    plan_json: str
    budget_nanos: int
    duration_seconds: float | None
    concurrency: int
    overrides_json: str
    song_id: str | None = None


def _request_values(request: JobRequest) -> dict[str, Any]:
    return {
        "plan_json": request.plan_json,
        "duration_seconds": request.duration_seconds,
        "concurrency": request.concurrency,
        "overrides_json": request.overrides_json,
    }


def submit_in(s: Session, request: JobRequest) -> tuple[Job, bool]:
    """Create the job or queue it again with this request; (job, queued). Insert-or-get, so processes
    submitting one new job at the same moment all see one row; a job a live lease holds is left as it is,
    and one queued already with this request stays as it is."""
    dialect: Any = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    work, new = ensure_in(s, WorkKind.REFERENCES, request.job_id, budget_nanos=request.budget_nanos)
    now = utcnow()
    values = _request_values(request)
    s.execute(
        dialect.insert(JobRow)
        .values(
            id=request.job_id,
            work_id=work.id,
            song_id=request.song_id,
            created_at=now,
            started_at=now,
            **values,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    job = s.get(JobRow, request.job_id, populate_existing=True)
    assert job is not None
    job.song_id = request.song_id or job.song_id
    if new:
        return Job.of(job, work), True
    if live(work):
        return Job.of(job, work), False
    same = all(getattr(job, name) == value for name, value in values.items())
    if work.status == WorkStatus.QUEUED and same and work.budget_nanos == request.budget_nanos:
        return Job.of(job, work), True
    requeue_in(s, work, budget_nanos=request.budget_nanos)
    for name, value in values.items():
        setattr(job, name, value)
    job.started_at = now
    job.outcome = None
    job.failure_reason = None
    s.flush()
    return Job.of(job, work), True


class JobRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, job_id: str) -> Job | None:
        with self.db.read() as s:
            return job_in(s, job_id)

    async def aget(self, job_id: str) -> Job | None:
        return await self.db.query(lambda s: job_in(s, job_id))

    def recent(self, limit: int = 20) -> list[Job]:
        with self.db.read() as s:
            rows = s.execute(_joined().order_by(JobRow.created_at.desc()).limit(limit))
            return [Job.of(row[0], row[1]) for row in rows]

    def submit(self, request: JobRequest) -> tuple[Job, bool]:
        """Create the job or queue it again with this request; (job, queued)."""
        with self.db.write() as s:
            return submit_in(s, request)

    async def start(
        self, request: JobRequest, owner: str, lease_seconds: float
    ) -> tuple[Job, Claimed | None]:
        """Submit `request` and claim its job in one transaction: (the job, the claim), the claim being None
        when another process holds the job."""

        def op(s: Session) -> tuple[Job, Claimed | None]:
            job, _ = submit_in(s, request)
            claimed = claim_in(s, owner, lease_seconds, work_id=job.work_id)
            return (job_in(s, request.job_id) or job) if claimed else job, claimed

        return await self.db.run(op)

    async def finish(
        self, lease: Lease, status: JobStatus, result_json: str | None, reason: str | None
    ) -> bool:
        """End the job's run with its outcome and its work as done, in one transaction; False when the lease
        was lost meanwhile (nothing changed)."""

        def op(s: Session) -> bool:
            if not finish_in(s, lease, WorkStatus.DONE):
                return False
            s.execute(
                update(JobRow)
                .where(JobRow.id == lease.subject)
                .values(outcome=status, result_json=result_json, failure_reason=reason, completed_at=utcnow())
            )
            return True

        return await self.db.run(op)

    def describe_op(self, lease: Lease, provider: str, model_version: str) -> Any:
        """The image backend that runs the job, recorded on it (while the lease holds)."""

        def op(s: Session) -> bool:
            result = s.execute(
                update(JobRow)
                .where(JobRow.id == lease.subject, select(WorkRow.id).where(held(lease)).exists())
                .values(provider=provider, model_version=model_version)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return op

    def plans(self, limit: int = 200) -> list[tuple[str, str, JobStatus]]:
        """(job id, plan JSON, status) of the newest jobs, for plan pickers."""
        with self.db.read() as s:
            rows = s.execute(_joined().order_by(JobRow.created_at.desc()).limit(limit))
            return [(row[0].id, row[0].plan_json, status_of(row[0], row[1])) for row in rows]

    def add(self, *, status: str = "queued", **values: Any) -> None:
        """A job row as given, with its work (tests and imports): `status` is the job's as people see it."""
        with self.db.write() as s:
            work, _ = queue_in(
                s, WorkKind.REFERENCES, values["id"], budget_nanos=values.pop("budget_nanos", 0)
            )
            if status not in ACTIVE:
                work.status = WorkStatus.DONE
                values["outcome"] = status
            s.execute(insert(JobRow).values(work_id=work.id, **values))
