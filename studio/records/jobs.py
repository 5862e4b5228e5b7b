"""Reference jobs: created once (insert-or-get), queued, claimed under a lease, finished by their holder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from studio.records import leases
from studio.records.database import Database, Op
from studio.records.leases import Lease
from studio.records.schema import JobRow, PredictionRow, ReferenceRow, utcnow

ACTIVE = ("queued", "running")
FINISHED = ("success", "partial", "failed", "cancelled")


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


def _insert_ignoring_duplicates(s: Session, row: dict[str, Any]) -> None:
    dialect = s.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    s.execute(module.insert(JobRow).values(**row).on_conflict_do_nothing(index_elements=["id"]))


class JobRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, job_id: str) -> JobRow | None:
        with self.db.read() as s:
            return s.get(JobRow, job_id)

    async def aget(self, job_id: str) -> JobRow | None:
        return await self.db.run(lambda s: s.get(JobRow, job_id))

    def recent(self, limit: int = 20) -> list[JobRow]:
        with self.db.read() as s:
            return list(s.scalars(select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)))

    def submit(self, request: JobRequest, *, replace_live: bool = False) -> tuple[JobRow, bool]:
        """Create the job or queue it again with this request; (row, queued).

        Insert-or-get, so processes submitting one new job at the same moment all see one row. A job that a
        live lease holds is left as it is (queued False) unless `replace_live`.
        """
        with self.db.write() as s:
            return _submit_in(s, request, replace_live)

    async def start(
        self, request: JobRequest | None, owner: str, lease_seconds: float, job_id: str | None = None
    ) -> tuple[JobRow | None, Claimed | None]:
        """Submit `request` (when given) and claim the job (or the oldest claimable one) in one transaction:
        (the job row, what the claim found), the claim being None when another process holds the job."""

        def op(s: Session) -> tuple[JobRow | None, Claimed | None]:
            job = _submit_in(s, request, False)[0] if request is not None else None
            wanted = request.job_id if request is not None else job_id
            lease = leases.claim(s, JobRow, owner, lease_seconds, id=wanted, values=_CLAIM_VALUES)
            if lease is None:
                return job, None
            claimed = _claimed(s, lease)
            return claimed.job, claimed

        return await self.db.run(op)

    def claim(self, owner: str, lease_seconds: float, job_id: str | None = None) -> Lease | None:
        """Take the oldest claimable job (or `job_id`); a takeover voids the last holder's reservations."""
        with self.db.write() as s:
            return leases.claim(s, JobRow, owner, lease_seconds, id=job_id, values=_CLAIM_VALUES)

    async def finish(self, lease: Lease, status: str, result_json: str | None, reason: str | None) -> bool:
        def op(s: Session) -> bool:
            return leases.release(
                s,
                lease,
                status=status,
                result_json=result_json,
                failure_reason=reason,
                completed_at=utcnow(),
                reserved_nanos=0,
            )

        return await self.db.run(op)

    async def hand_back(self, lease: Lease) -> bool:
        """Give a running job back to the queue (this process stops); the next claimant continues it."""
        return await self.db.run(lambda s: leases.release(s, lease, status="queued", reserved_nanos=0))

    async def beat(self, lease: Lease, lease_seconds: float | None) -> tuple[bool, bool]:
        """(still held, cancel requested); renews the lease when `lease_seconds` is given."""

        def op(s: Session) -> tuple[bool, bool]:
            if lease_seconds is not None and not leases.renew(s, lease, lease_seconds):
                return False, False
            row = s.execute(
                select(JobRow.lease_epoch, JobRow.lease_owner, JobRow.cancel_requested).where(
                    JobRow.id == lease.id
                )
            ).first()
            if row is None or (row.lease_epoch, row.lease_owner) != (lease.epoch, lease.owner):
                return False, False
            return True, bool(row.cancel_requested)

        return await self.db.run(op)

    def describe_op(self, lease: Lease, provider: str, model_version: str) -> Op[bool]:
        """The image backend that runs the job, recorded on it."""

        def op(s: Session) -> bool:
            result = s.execute(
                update(JobRow)
                .where(leases.held(lease))
                .values(provider=provider, model_version=model_version)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return op

    def request_cancel(self, job_id: str) -> JobRow | None:
        """A queued job ends `cancelled` at once; a running one is asked to stop (its holder ends it)."""
        with self.db.write() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "queued")
                .values(status="cancelled", completed_at=utcnow(), cancel_requested=True)
            )
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "running")
                .values(cancel_requested=True)
            )
            return s.get(JobRow, job_id, populate_existing=True)

    def plans(self, limit: int = 200) -> list[tuple[str, str, str]]:
        """(job id, plan JSON, status) of the newest jobs, for plan pickers."""
        with self.db.read() as s:
            rows = s.execute(
                select(JobRow.id, JobRow.plan_json, JobRow.status)
                .order_by(JobRow.created_at.desc())
                .limit(limit)
            )
            return [(row.id, row.plan_json, row.status) for row in rows]

    def add(self, **values: Any) -> None:
        """A job row as given (tests and imports)."""
        with self.db.write() as s:
            s.execute(insert(JobRow).values(**values))


_CLAIM_VALUES = {"reserved_nanos": 0, "completed_at": None}
"""A claim voids the reservations of whoever held the job before."""


@dataclass(frozen=True)
class Claimed:
    """A claimed job and what its run starts from, read in the claim's transaction."""

    lease: Lease
    job: JobRow
    references: dict[str, ReferenceRow]
    predictions: list[PredictionRow]
    """Predictions paid for in earlier claims whose image was never stored: the run adopts them."""


def _claimed(s: Session, lease: Lease) -> Claimed:
    job = s.get(JobRow, lease.id, populate_existing=True)
    assert job is not None
    references = s.scalars(
        select(ReferenceRow).where(ReferenceRow.job_id == lease.id).order_by(ReferenceRow.id)
    )
    predictions = s.scalars(
        select(PredictionRow)
        .where(PredictionRow.job_id == lease.id, PredictionRow.used.is_(False))
        .order_by(PredictionRow.created_at, PredictionRow.id)
    )
    return Claimed(lease, job, {row.ref: row for row in references}, list(predictions))


def _submit_in(s: Session, request: JobRequest, replace_live: bool) -> tuple[JobRow, bool]:
    values = {
        "plan_json": request.plan_json,
        "budget_nanos": request.budget_nanos,
        "duration_seconds": request.duration_seconds,
        "concurrency": request.concurrency,
        "overrides_json": request.overrides_json,
    }
    _insert_ignoring_duplicates(
        s,
        {
            "id": request.job_id,
            **values,
            "song_id": request.song_id,
            "status": "queued",
            "spent_nanos": 0,
            "reserved_nanos": 0,
            "created_at": utcnow(),
            "started_at": utcnow(),
        },
    )
    job = s.get(JobRow, request.job_id, populate_existing=True)
    assert job is not None
    if leases.live(job) and not replace_live:
        return job, False
    if job.status == "queued" and job.plan_json == request.plan_json and _same(job, values):
        job.song_id = request.song_id or job.song_id
        return job, True
    for name, value in values.items():
        setattr(job, name, value)
    job.song_id = request.song_id or job.song_id
    job.status = "queued"
    job.started_at = utcnow()
    job.cancel_requested = False
    job.failure_reason = None
    job.lease_owner = None
    job.lease_expires_at = None
    return job, True


def _same(job: JobRow, values: dict[str, Any]) -> bool:
    return all(getattr(job, name) == value for name, value in values.items())
