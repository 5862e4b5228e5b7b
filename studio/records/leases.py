"""Leases on work rows (reference jobs, character jobs): claim, renew and release, all as compare-and-set.

A row is claimable when it is queued, or running under a lease that expired: its holder stopped renewing it,
whatever the reason (crash, SIGKILL, another host). Every claim raises `lease_epoch`; writes made for a lease
test owner and epoch (`held`), so a process that lost its lease can change nothing any more. PostgreSQL skips
rows another claimer has locked (`FOR UPDATE SKIP LOCKED`); SQLite serialises writers (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from studio.records.schema import Leased, as_utc, utcnow

RUNNING = "running"
QUEUED = "queued"


@dataclass(frozen=True)
class Lease:
    """This process's hold on one row: its epoch is the fencing token of every write made for it."""

    table: type[Leased]
    id: str
    owner: str
    epoch: int
    expires_at: datetime
    claimed_at: datetime
    taken_over_from: str | None = None
    """The previous holder, when the row was running under an expired lease (a takeover)."""


def held(lease: Lease) -> ColumnElement[bool]:
    """WHERE clause of a write that only counts while `lease` is still the row's current lease."""
    table: Any = lease.table
    return and_(
        table.id == lease.id,
        table.lease_owner == lease.owner,
        table.lease_epoch == lease.epoch,
        table.status == RUNNING,
    )


def claimable(table: Any, now: datetime) -> ColumnElement[bool]:
    return or_(table.status == QUEUED, and_(table.status == RUNNING, table.lease_expires_at < now))


def claim(
    s: Session,
    table: Any,
    owner: str,
    lease_seconds: float,
    *,
    id: str | None = None,
    where: tuple[ColumnElement[bool], ...] = (),
    values: dict[str, Any] | None = None,
) -> Lease | None:
    """Take the oldest claimable row (or row `id`), setting `values` too; None when there is none."""
    now = utcnow()
    query = select(table.id, table.status, table.lease_owner, table.lease_epoch).where(
        claimable(table, now), *where
    )
    if id is not None:
        query = query.where(table.id == id)
    query = query.order_by(table.created_at, table.id).limit(1)
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = s.execute(query).first()
    if row is None:
        return None
    expires = now + timedelta(seconds=lease_seconds)
    taken = s.execute(
        update(table)
        .where(table.id == row.id, table.lease_epoch == row.lease_epoch, claimable(table, now))
        .values(
            status=RUNNING,
            lease_owner=owner,
            lease_epoch=row.lease_epoch + 1,
            lease_expires_at=expires,
            claimed_at=now,
            attempts=table.attempts + 1,
            **(values or {}),
        )
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return None
    previous = row.lease_owner if row.status == RUNNING else None
    return Lease(table, row.id, owner, row.lease_epoch + 1, expires, now, previous)


def renew(s: Session, lease: Lease, lease_seconds: float) -> bool:
    """Push the expiry forward while the lease is still ours; False once it was lost."""
    result = s.execute(
        update(lease.table)
        .where(held(lease))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def is_held(s: Session, lease: Lease) -> bool:
    table: Any = lease.table
    return bool(s.scalar(select(table.id).where(held(lease))))


def beat(s: Session, lease: Lease, lease_seconds: float | None) -> bool:
    """Whether the lease is still held, pushing its expiry forward when `lease_seconds` is given."""
    return renew(s, lease, lease_seconds) if lease_seconds is not None else is_held(s, lease)


def release(s: Session, lease: Lease, **values: Any) -> bool:
    """End the lease, setting `values` (a final status, or `queued` to hand the work back)."""
    result = s.execute(
        update(lease.table)
        .where(held(lease))
        .values(lease_owner=None, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def live(row: Leased, now: datetime | None = None) -> bool:
    """Whether a row is running under a lease that has not expired: someone is working on it."""
    return (
        row.status == RUNNING
        and row.lease_expires_at is not None
        and as_utc(row.lease_expires_at) >= (now or utcnow())
    )


def earliest_expiry(s: Session, table: Any) -> datetime | None:
    """When the first lease of a running row runs out (None: nothing is running)."""
    moment = s.scalar(select(func.min(table.lease_expires_at)).where(table.status == RUNNING))
    return as_utc(moment) if moment is not None else None
