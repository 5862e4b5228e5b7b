"""Claiming and expiring work by hand, as a process that then dies would leave it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from studio.records.schema import utcnow
from studio.records.work import Claimed, WorkKind, WorkRow
from studio.services import Services


def claim(
    services: Services,
    owner: str,
    seconds: float = 30,
    *,
    work_id: str | None = None,
    kinds: tuple[WorkKind, ...] = (),
) -> Claimed | None:
    """A claim made outside any running handler (a process that will die holding it)."""
    return asyncio.run(services.records.work.claim(owner, seconds, work_id=work_id, kinds=kinds))


def expire(services: Services, work_id: str | None = None, *, attempts: int | None = None) -> None:
    """The lease of running work (one unit, or all) ran out: its holder stopped renewing it."""
    values: dict[str, object] = {"lease_expires_at": utcnow() - timedelta(seconds=1)}
    if attempts is not None:
        values["attempts"] = attempts
    statement = update(WorkRow).values(**values)
    if work_id is not None:
        statement = statement.where(WorkRow.id == work_id)
    with services.records.db.write() as s:
        s.execute(statement)


def work_of(services: Services, job_id: str) -> str:
    """The work id of a reference job."""
    job = services.records.jobs.get(job_id)
    assert job is not None
    return job.work_id
