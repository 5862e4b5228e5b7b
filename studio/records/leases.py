"""Leases: how several studio processes share jobs and per-reference tasks without doing work twice.

An owner is `host:pid:token`. A lease is taken with a compare-and-set UPDATE (after `FOR UPDATE SKIP LOCKED`
on PostgreSQL), renewed by a heartbeat, and taken over by any live process once it expires, or at once when
its owner ran on this host and that process is gone.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.selectable import GenerativeSelect

from studio.records.schema import JobRow, ReferenceRow, as_utc, utcnow
from studio.records.store import Records

HOST = socket.gethostname()
Q = TypeVar("Q", bound=GenerativeSelect)


def new_owner() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_gone(owner: str | None) -> bool:
    """True when `owner` ran on this host and its process no longer exists (or is a zombie)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def _gone_owners(
    session: Session, column: InstrumentedAttribute[str | None], *where: ColumnElement[bool]
) -> list[str]:
    owners = session.scalars(select(column).where(column.like(f"{HOST}:%"), *where).distinct())
    return [owner for owner in owners if owner and owner_gone(owner)]


def _locking(records: Records, query: Q) -> Q:
    return query.with_for_update(skip_locked=True) if records.is_postgres else query


@dataclass(frozen=True)
class ClaimedTask:
    ref: str
    version: int
    """The reference's latest stored version before this claim (0: none yet)."""


def claim_tasks(
    records: Records, job_id: str, owner: str, lease_seconds: float, limit: int = 1
) -> list[ClaimedTask]:
    """Take up to `limit` references of the job in one transaction.

    Claimable: queued, or generating under an expired lease; failing those, generating under an owner that
    is gone. References a re-synthesized plan no longer has were marked `dropped` when the run was prepared.
    """
    now = utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    with records.session() as s:
        queued = select(ReferenceRow.id).where(ReferenceRow.job_id == job_id, ReferenceRow.status == "queued")
        ids = list(s.scalars(_locking(records, queued.order_by(ReferenceRow.id).limit(limit))))
        taken = _take_queued(s, ids, owner, expires)
        if len(taken) < limit:
            expired = and_(ReferenceRow.status == "generating", ReferenceRow.lease_expires_at < now)
            taken += _take_each(s, records, job_id, expired, owner, expires, limit - len(taken))
        if not taken:  # nothing else is left: look for dead local owners
            gone = _gone_owners(s, ReferenceRow.lease_owner, ReferenceRow.job_id == job_id)
            if gone:
                orphaned = and_(ReferenceRow.status == "generating", ReferenceRow.lease_owner.in_(gone))
                taken = _take_each(s, records, job_id, orphaned, owner, expires, limit)
        return [ClaimedTask(ref, version) for _, ref, version in taken]


def _take_queued(s: Session, ids: list[int], owner: str, expires: datetime) -> list[tuple[int, str, int]]:
    """Queued references in one UPDATE ... RETURNING; rows another process took meanwhile drop out."""
    if not ids:
        return []
    rows = s.execute(
        update(ReferenceRow)
        .where(ReferenceRow.id.in_(ids), ReferenceRow.status == "queued")
        .values(
            status="generating", lease_owner=owner, lease_expires_at=expires, reserved_nanos=0, attempts=1
        )
        .returning(ReferenceRow.id, ReferenceRow.ref, ReferenceRow.version)
    )
    return sorted((row.id, row.ref, row.version) for row in rows)


def _take_each(
    s: Session, records: Records, job_id: str, claimable: Any, owner: str, expires: datetime, limit: int
) -> list[tuple[int, str, int]]:
    query = select(
        ReferenceRow.id, ReferenceRow.ref, ReferenceRow.version, ReferenceRow.status,
        ReferenceRow.lease_owner, ReferenceRow.reserved_nanos,
    ).where(ReferenceRow.job_id == job_id, claimable)  # fmt: skip
    taken = []
    for row in s.execute(_locking(records, query.order_by(ReferenceRow.id).limit(limit))):
        if _take(s, job_id, row, owner, expires):
            taken.append((row.id, row.ref, row.version))
    return taken


def _take(s: Session, job_id: str, row: Any, owner: str, expires: datetime) -> bool:
    """Compare-and-set one reference to this owner; release what a dead previous owner had reserved."""
    same_owner = (
        ReferenceRow.lease_owner.is_(None)
        if row.lease_owner is None
        else ReferenceRow.lease_owner == row.lease_owner
    )
    taken = s.execute(
        update(ReferenceRow)
        .where(ReferenceRow.id == row.id, ReferenceRow.status == row.status, same_owner)
        .values(
            status="generating", lease_owner=owner, lease_expires_at=expires, reserved_nanos=0, attempts=1
        )
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return False
    if row.reserved_nanos:
        s.execute(
            update(JobRow)
            .where(JobRow.id == job_id)
            .values(reserved_nanos=JobRow.reserved_nanos - row.reserved_nanos)
        )
    return True


def extend_task_leases(records: Records, job_id: str, owner: str, lease_seconds: float) -> None:
    with records.session() as s:
        s.execute(
            update(ReferenceRow)
            .where(
                ReferenceRow.job_id == job_id,
                ReferenceRow.lease_owner == owner,
                ReferenceRow.status == "generating",
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )


def held_by_another(row: ReferenceRow, owner: str, now: datetime) -> bool:
    """Whether another live process is generating this reference right now."""
    return (
        row.status == "generating"
        and row.lease_owner not in (None, owner)
        and row.lease_expires_at is not None
        and as_utc(row.lease_expires_at) >= now
        and not owner_gone(row.lease_owner)
    )


def live_tasks_of_others(records: Records, job_id: str, owner: str, refs: Collection[str]) -> int:
    """References of the job that another live process is generating right now."""
    now = utcnow()
    with records.session() as s:
        rows = s.execute(
            select(ReferenceRow.lease_owner).where(
                ReferenceRow.job_id == job_id,
                ReferenceRow.ref.in_(list(refs)),
                ReferenceRow.status == "generating",
                ReferenceRow.lease_owner != owner,
                ReferenceRow.lease_expires_at >= now,
            )
        ).scalars()
        return sum(1 for other in rows if not owner_gone(other))


def claim_job(
    records: Records,
    owner: str,
    lease_seconds: float,
    job_id: str | None = None,
    exclude: Collection[str] = (),
) -> tuple[str, bool] | None:
    """Take the oldest claimable job: (job_id, True) when this owner now holds its lease.

    Claimable: queued, or running with an expired lease or a gone owner. Failing that, a running job that
    still has queued references can be joined: (job_id, False), the lease stays with its holder.
    """
    now = utcnow()
    with records.session() as s:
        gone = _gone_owners(s, JobRow.lease_owner, JobRow.status == "running")
        claimable = or_(
            JobRow.status == "queued",
            and_(
                JobRow.status == "running", or_(JobRow.lease_expires_at < now, JobRow.lease_owner.in_(gone))
            ),
        )
        query = select(JobRow).where(claimable, JobRow.id.not_in(list(exclude)))
        if job_id is not None:
            query = query.where(JobRow.id == job_id)
        for job in s.scalars(_locking(records, query.order_by(JobRow.created_at).limit(5))):
            taken = s.execute(
                update(JobRow)
                .where(
                    JobRow.id == job.id,
                    JobRow.status == job.status,
                    JobRow.lease_expires_at == job.lease_expires_at
                    if job.lease_expires_at is not None
                    else JobRow.lease_expires_at.is_(None),
                )
                .values(
                    status="running",
                    lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                )
            )
            if taken.rowcount:  # type: ignore[attr-defined]
                return job.id, True
        joinable = (
            select(ReferenceRow.job_id)
            .join(JobRow, JobRow.id == ReferenceRow.job_id)
            .where(
                JobRow.status == "running",
                JobRow.lease_owner.not_like(f"{HOST}:{os.getpid()}:%"),  # never join a job this process runs
                ReferenceRow.status == "queued",
            )
        )
        joinable = joinable.where(JobRow.id.not_in(list(exclude)))
        if job_id is not None:
            joinable = joinable.where(JobRow.id == job_id)
        joined = s.scalar(joinable.limit(1))
        return (joined, False) if joined else None


def extend_job_lease(records: Records, job_id: str, owner: str, lease_seconds: float) -> bool:
    with records.session() as s:
        result = s.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner)
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def release_job(records: Records, job_id: str, owner: str) -> None:
    with records.session() as s:
        s.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
