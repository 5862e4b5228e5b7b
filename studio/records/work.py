"""The work queue: one table for all background work (reference jobs, consistency jobs, rounds of looks).

A row is one unit of work of a kind, about one subject (the domain row that points at it and keeps the
outcome). It is claimable when queued, or running under a lease that expired: its holder stopped renewing it,
whatever the reason (crash, SIGKILL, another host). Every claim raises `lease_epoch`; writes made for a lease
test owner and epoch (`held`), so a process that lost its lease can change nothing any more. PostgreSQL skips
rows another claimer has locked (`FOR UPDATE SKIP LOCKED`); SQLite serialises writers (BEGIN IMMEDIATE).

A cancel is part of the work's state: queued work ends at once, running work is asked to stop, and whoever
holds or takes it over starts nothing new. The work's budget lives here too: what its calls in flight may
still cost is reserved for the lease that made the calls, and voided when the work is taken over.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from studio.records.database import Database
from studio.records.schema import Base, as_utc, utcnow


class WorkKind(StrEnum):
    REFERENCES = "references"
    """A reference job: every scene and character of a plan (subject: the job id)."""
    CONSISTENCY = "consistency"
    """A song's consistency job: interrogation, then its first look (subject: the character job's id)."""
    LOOKS = "looks"
    """A round of candidate looks (subject: the round's id)."""


class WorkStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    """The handler ran it to its end; its subject says how that went."""
    FAILED = "failed"
    """It could not be run: its handler crashed, or it was claimed too many times without ending."""
    CANCELLED = "cancelled"
    """Cancelled or superseded before it ended."""


OPEN = (WorkStatus.QUEUED, WorkStatus.RUNNING)
MAX_ATTEMPTS = 3
"""Claims of one queuing that may end without the work ending (its holders died) before it fails."""


class WorkRow(Base):
    __tablename__ = "work"
    __table_args__ = (UniqueConstraint("kind", "subject"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    """The claiming process, `host:pid:token` (a label for people; liveness is only the expiry)."""
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When the current epoch began."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Claims since the work was last queued (a hand-back gives its claim back)."""
    max_attempts: Mapped[int] = mapped_column(Integer, default=MAX_ATTEMPTS)
    budget_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    spent_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class Lease:
    """This process's hold on one unit of work: its epoch is the fencing token of every write made for it."""

    id: str
    kind: WorkKind
    subject: str
    owner: str
    epoch: int
    expires_at: datetime
    taken_over_from: str | None = None
    """The previous holder, when the work was running under an expired lease (a takeover)."""


@dataclass(frozen=True)
class Claimed:
    """A claim and what the work was when it was claimed."""

    lease: Lease
    work: WorkRow


def held(lease: Lease) -> ColumnElement[bool]:
    """WHERE clause of a write to the work row that only counts while `lease` is still its lease."""
    return and_(
        WorkRow.id == lease.id,
        WorkRow.lease_owner == lease.owner,
        WorkRow.lease_epoch == lease.epoch,
        WorkRow.status == WorkStatus.RUNNING,
    )


HELD = and_(
    WorkRow.id == bindparam("held_work"),
    WorkRow.lease_owner == bindparam("held_owner"),
    WorkRow.lease_epoch == bindparam("held_epoch"),
    WorkRow.status == WorkStatus.RUNNING,
)
"""`held` with the lease given as parameters (`lease_params`), for statements built once: the writes made
for every image build nothing per call."""
HOLDS = exists().where(HELD)
"""`HELD` for writes to other tables (a reference, a look)."""
_IS_HELD = select(WorkRow.id).where(HELD)


def lease_params(lease: Lease) -> dict[str, object]:
    return {"held_work": lease.id, "held_owner": lease.owner, "held_epoch": lease.epoch}


def is_held(s: Session, lease: Lease) -> bool:
    return s.connection().execute(_IS_HELD, lease_params(lease)).first() is not None


def live(work: WorkRow, now: datetime | None = None) -> bool:
    """Whether the work is running under a lease that has not expired: someone is working on it."""
    return (
        work.status == WorkStatus.RUNNING
        and work.lease_expires_at is not None
        and as_utc(work.lease_expires_at) >= (now or utcnow())
    )


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        WorkRow.status == WorkStatus.QUEUED,
        and_(WorkRow.status == WorkStatus.RUNNING, WorkRow.lease_expires_at < now),
    )


def ensure_in(
    s: Session, kind: WorkKind, subject: str, *, budget_nanos: int = 0, max_attempts: int = MAX_ATTEMPTS
) -> tuple[WorkRow, bool]:
    """The work about `subject`, created queued when there is none (insert-or-get: processes asking at the
    same moment all see one row); (row, whether it is new)."""
    dialect: Any = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    new_id, now = str(uuid.uuid4()), utcnow()
    s.execute(
        dialect.insert(WorkRow)
        .values(
            id=new_id,
            kind=kind,
            subject=subject,
            status=WorkStatus.QUEUED,
            cancel_requested=False,
            lease_epoch=0,
            attempts=0,
            max_attempts=max_attempts,
            budget_nanos=budget_nanos,
            reserved_nanos=0,
            spent_nanos=0,
            created_at=now,
            queued_at=now,
        )
        .on_conflict_do_nothing(index_elements=["kind", "subject"])
    )
    query = select(WorkRow).where(WorkRow.kind == kind, WorkRow.subject == subject)
    row = s.scalar(query.execution_options(populate_existing=True))
    assert row is not None
    return row, row.id == new_id


def requeue_in(s: Session, row: WorkRow, *, budget_nanos: int, max_attempts: int = MAX_ATTEMPTS) -> None:
    """Queue work again (a new request, or a new run after it ended); a holder it had loses its lease."""
    row.status = WorkStatus.QUEUED
    row.cancel_requested = False
    row.lease_owner = None
    row.lease_expires_at = None
    row.attempts = 0
    row.max_attempts = max_attempts
    row.budget_nanos = budget_nanos
    row.reserved_nanos = 0
    row.error = None
    row.queued_at = utcnow()
    row.finished_at = None
    s.flush()


def queue_in(
    s: Session,
    kind: WorkKind,
    subject: str,
    *,
    budget_nanos: int = 0,
    max_attempts: int = MAX_ATTEMPTS,
    replace_live: bool = False,
) -> tuple[WorkRow, bool]:
    """Queue the work about `subject` (created when new, queued again otherwise); (row, queued). Work a
    live lease holds is left as it is (queued False) unless `replace_live`: its holder then loses it."""
    row, new = ensure_in(s, kind, subject, budget_nanos=budget_nanos, max_attempts=max_attempts)
    if new:
        return row, True
    if live(row) and not replace_live:
        return row, False
    requeue_in(s, row, budget_nanos=budget_nanos, max_attempts=max_attempts)
    return row, True


def claim_in(
    s: Session,
    owner: str,
    lease_seconds: float,
    *,
    work_id: str | None = None,
    kinds: tuple[WorkKind, ...] = (),
) -> Claimed | None:
    """Take the oldest claimable work (or `work_id`), voiding the last holder's reservations."""
    now = utcnow()
    query = select(WorkRow).where(_claimable(now))
    if work_id is not None:
        query = query.where(WorkRow.id == work_id)
    if kinds:
        query = query.where(WorkRow.kind.in_(kinds))
    query = query.order_by(WorkRow.queued_at, WorkRow.id).limit(1)
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = s.scalar(query)
    if row is None:
        return None
    previous = row.lease_owner if row.status == WorkStatus.RUNNING else None
    epoch = row.lease_epoch + 1
    expires = now + timedelta(seconds=lease_seconds)
    taken = s.execute(
        update(WorkRow)
        .where(WorkRow.id == row.id, WorkRow.lease_epoch == row.lease_epoch, _claimable(now))
        .values(
            status=WorkStatus.RUNNING,
            lease_owner=owner,
            lease_epoch=epoch,
            lease_expires_at=expires,
            claimed_at=now,
            attempts=WorkRow.attempts + 1,
            reserved_nanos=0,
        )
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return None
    s.refresh(row)
    lease = Lease(row.id, WorkKind(row.kind), row.subject, owner, epoch, expires, previous)
    return Claimed(lease, row)


def renew_in(s: Session, lease: Lease, lease_seconds: float | None) -> tuple[bool, bool]:
    """(still held, cancel requested), pushing the expiry forward when `lease_seconds` is given."""
    if lease_seconds is not None:
        s.execute(
            update(WorkRow)
            .where(held(lease))
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
    found = s.execute(select(WorkRow.cancel_requested).where(held(lease))).first()
    return (found is not None, bool(found.cancel_requested) if found is not None else False)


def finish_in(s: Session, lease: Lease, status: WorkStatus, error: str | None = None) -> bool:
    """End the lease with a final status; False (nothing changed) when it was lost."""
    return _release(s, lease, status=status, error=error, finished_at=utcnow())


def hand_back_in(s: Session, lease: Lease) -> bool:
    """Give running work back to the queue (this process stops); the claim does not count as an attempt."""
    return _release(s, lease, status=WorkStatus.QUEUED, attempts=WorkRow.attempts - 1)


def _release(s: Session, lease: Lease, **values: Any) -> bool:
    result = s.execute(
        update(WorkRow)
        .where(held(lease))
        .values(lease_owner=None, lease_expires_at=None, reserved_nanos=0, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel_in(s: Session, work_id: str, reason: str) -> WorkRow | None:
    """Queued work ends cancelled at once; running work is asked to stop (its holder, or whoever takes it
    over, ends it). The row as it is now."""
    now = utcnow()
    s.execute(
        update(WorkRow)
        .where(WorkRow.id == work_id, WorkRow.status == WorkStatus.QUEUED)
        .values(status=WorkStatus.CANCELLED, cancel_requested=True, error=reason, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    s.execute(
        update(WorkRow)
        .where(WorkRow.id == work_id, WorkRow.status == WorkStatus.RUNNING)
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    return s.get(WorkRow, work_id, populate_existing=True)


def supersede_in(s: Session, work_ids: ColumnElement[bool], reason: str) -> int:
    """End open work at once (its subject was replaced): a holder's lease stops counting, so it can record
    nothing more. How many were open."""
    result = s.execute(
        update(WorkRow)
        .where(work_ids, WorkRow.status.in_(OPEN))
        .values(
            status=WorkStatus.CANCELLED,
            error=reason,
            lease_owner=None,
            lease_expires_at=None,
            reserved_nanos=0,
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def earliest_expiry(s: Session) -> datetime | None:
    """When the first lease of running work runs out (None: nothing is running)."""
    moment = s.scalar(select(func.min(WorkRow.lease_expires_at)).where(WorkRow.status == WorkStatus.RUNNING))
    return as_utc(moment) if moment is not None else None


class WorkRecords:
    """The work queue through the records database: coroutines' calls run off the event loop, in order."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, work_id: str) -> WorkRow | None:
        with self.db.read() as s:
            return s.get(WorkRow, work_id)

    async def aget(self, work_id: str) -> WorkRow | None:
        return await self.db.query(lambda s: s.get(WorkRow, work_id))

    def of(self, kind: WorkKind, subject: str) -> WorkRow | None:
        with self.db.read() as s:
            return s.scalar(select(WorkRow).where(WorkRow.kind == kind, WorkRow.subject == subject))

    async def claim(
        self,
        owner: str,
        lease_seconds: float,
        *,
        work_id: str | None = None,
        kinds: tuple[WorkKind, ...] = (),
    ) -> Claimed | None:
        return await self.db.run(lambda s: claim_in(s, owner, lease_seconds, work_id=work_id, kinds=kinds))

    async def renew(self, lease: Lease, lease_seconds: float | None) -> tuple[bool, bool]:
        return await self.db.run(lambda s: renew_in(s, lease, lease_seconds))

    async def finish(self, lease: Lease, status: WorkStatus, error: str | None = None) -> bool:
        return await self.db.run(lambda s: finish_in(s, lease, status, error))

    async def hand_back(self, lease: Lease) -> bool:
        return await self.db.run(lambda s: hand_back_in(s, lease))

    def cancel(self, work_id: str, reason: str) -> WorkRow | None:
        with self.db.write() as s:
            return cancel_in(s, work_id, reason)

    def running_until(self) -> datetime | None:
        """When the first lease of work running anywhere runs out."""
        with self.db.read() as s:
            return earliest_expiry(s)
