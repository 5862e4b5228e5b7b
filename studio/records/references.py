"""A job's references and their versions. Writes for a running job are made for its lease (`holds`), so a
process that lost the job can no longer change them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from studio.records.database import Database, Op
from studio.records.objects import ObjectCheck, copy_checks, record_checks
from studio.records.paid_calls import CallState, mark_in
from studio.records.schema import ReferenceRow, ReferenceVersionRow, utcnow
from studio.records.work import HOLDS, Lease, is_held, lease_params
from studio.storage.keys import REFERENCE_BUCKET

_REFERENCES = cast(Table, ReferenceRow.__table__)
_VERSIONS = cast(Table, ReferenceVersionRow.__table__)


@dataclass
class StoredImage:
    """One image just put in storage: its version row, the reference's new state."""

    ref: str
    version: dict[str, Any]
    """The version row's columns (its `version` number given by the lease holder)."""
    reference: dict[str, Any] = field(default_factory=dict)
    kept_previous: tuple[int, str] | None = None
    """(version, key under versions/) where the image it replaces now lives."""
    check: ObjectCheck | None = None
    """The stored image's size and SHA-256, recorded for its key."""


class ReferenceStatus(StrEnum):
    QUEUED = "queued"
    GENERATING = "generating"
    STORED = "stored"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DROPPED = "dropped"
    """The plan no longer has it."""


UNFINISHED = (ReferenceStatus.QUEUED, ReferenceStatus.GENERATING)


class ReferenceRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of_job(self, job_id: str) -> dict[str, ReferenceRow]:
        with self.db.read() as s:
            return _of_job(s, job_id)

    async def aof_job(self, job_id: str) -> dict[str, ReferenceRow]:
        return await self.db.query(lambda s: _of_job(s, job_id))

    def recent_costs(self, provider: str, model_version: str, limit: int = 50) -> list[int]:
        """What the newest images stored by this provider's model cost (nanos), paid ones only."""
        with self.db.read() as s:
            query = (
                select(ReferenceRow.cost_nanos)
                .where(
                    ReferenceRow.provider == provider,
                    ReferenceRow.model_version == model_version,
                    ReferenceRow.status == ReferenceStatus.STORED,
                    ReferenceRow.cost_nanos > 0,
                )
                .order_by(ReferenceRow.updated_at.desc())
                .limit(limit)
            )
            return list(s.scalars(query))

    def versions(self, job_id: str, ref: str | None = None) -> list[ReferenceVersionRow]:
        with self.db.read() as s:
            query = select(ReferenceVersionRow).where(ReferenceVersionRow.job_id == job_id)
            if ref is not None:
                query = query.where(ReferenceVersionRow.ref == ref)
            return list(s.scalars(query.order_by(ReferenceVersionRow.ref, ReferenceVersionRow.version)))

    async def prepare(self, lease: Lease, rows: list[dict[str, Any]], keep: list[str]) -> bool:
        """Create or reset the references this run will generate, in one transaction.

        Queued references not in `keep` (the plan changed) are marked `dropped`. False when the lease is lost.
        """
        return bool(await self.db.run(self.prepare_op(lease, rows, refs=keep)))

    def prepare_op(self, lease: Lease, rows: list[dict[str, Any]], *, refs: list[str]) -> Op[bool]:
        keep = refs

        def op(s: Session) -> bool:
            if not is_held(s, lease):
                return False
            job_id = lease.subject
            s.execute(
                update(ReferenceRow)
                .where(
                    ReferenceRow.job_id == job_id,
                    ReferenceRow.status.in_(UNFINISHED),
                    ReferenceRow.ref.not_in(keep),
                )
                .values(status=ReferenceStatus.DROPPED)
            )
            known = set(s.scalars(select(ReferenceRow.ref).where(ReferenceRow.job_id == job_id)))
            new = [{**values, "job_id": job_id} for values in rows if values["ref"] not in known]
            if new:
                s.execute(insert(ReferenceRow), new)
            changed = [values for values in rows if values["ref"] in known]
            if changed:
                columns = _REFERENCES.c
                s.connection().execute(
                    update(_REFERENCES)
                    .where(columns.job_id == job_id, columns.ref == bindparam("ref_"))
                    .values({name: bindparam(name) for name in changed[0] if name != "ref"}),
                    [{**values, "ref_": values["ref"]} for values in changed],
                )
            return True

        return op

    def update(self, job_id: str, ref: str, **values: Any) -> None:
        with self.db.write() as s:
            s.execute(
                update(ReferenceRow)
                .where(ReferenceRow.job_id == job_id, ReferenceRow.ref == ref)
                .values(**values)
            )

    def update_for(self, lease: Lease, ref: str, **values: Any) -> Op[bool]:
        """An op that updates one reference while `lease` holds its job."""
        return lambda s: update_in(s, lease, ref, **values)

    def store_op(
        self, lease: Lease, image: StoredImage, calls: list[int], also: Op[object] | None = None
    ) -> Op[int | None]:
        """An op recording an image just stored as its reference's latest version, and the paid calls that
        made it as kept (and `also`: the event that says so); its version number, or None when the lease
        was lost meanwhile."""

        def op(s: Session) -> int | None:
            if not is_held(s, lease):
                return None
            mark_in(s, calls, CallState.KEPT)
            if also is not None:
                also(s)
            return _record_versions(s, lease, [image])[image.ref]

        return op


def update_in(s: Session, lease: Lease, ref: str, **values: Any) -> bool:
    """Update one reference of the lease's job, only while the lease holds it."""
    params = {**values, "updated_at": utcnow(), "job_": lease.subject, "ref_": ref, **lease_params(lease)}
    return bool(s.connection().execute(_update_statement(tuple(sorted(values))), params).rowcount)


_ADD_VERSION = insert(_VERSIONS)


@functools.cache
def _stored_statement(columns: tuple[str, ...]) -> Update:
    """The update of a reference that got a new version (not fenced: its transaction checked the lease)."""
    return (
        update(_REFERENCES)
        .where(_REFERENCES.c.job_id == bindparam("job_"), _REFERENCES.c.ref == bindparam("ref_"))
        .values({name: bindparam(name) for name in columns})
    )


@functools.cache
def _update_statement(columns: tuple[str, ...]) -> Update:
    """The fenced update of these columns of one reference, built once per set of columns."""
    return (
        update(_REFERENCES)
        .where(_REFERENCES.c.job_id == bindparam("job_"), _REFERENCES.c.ref == bindparam("ref_"), HOLDS)
        .values({name: bindparam(name) for name in (*columns, "updated_at")})
    )


def _record_versions(s: Session, lease: Lease, images: list[StoredImage]) -> dict[str, int]:
    """Each image's version number (the lease holder numbers them: it alone writes the job's versions)."""
    job_id = lease.subject
    numbers = {image.ref: image.version["version"] for image in images}
    _move_previous(s, job_id, images)
    _record_checks(s, images)
    connection = s.connection()
    connection.execute(
        _ADD_VERSION, [_version_values(job_id, image, image.version["version"]) for image in images]
    )
    columns = tuple(sorted({*images[0].reference, "version"}))
    rows = [
        {**image.reference, "job_": job_id, "ref_": image.ref, "version": image.version["version"]}
        for image in images
    ]
    connection.execute(_stored_statement(columns), rows)
    return numbers


def _of_job(s: Session, job_id: str) -> dict[str, ReferenceRow]:
    rows = s.scalars(select(ReferenceRow).where(ReferenceRow.job_id == job_id).order_by(ReferenceRow.id))
    return {row.ref: row for row in rows}


def _move_previous(s: Session, job_id: str, images: list[StoredImage]) -> None:
    moved = [image for image in images if image.kept_previous is not None]
    if not moved:
        return
    versions = _VERSIONS.c
    s.connection().execute(
        update(_VERSIONS)
        .where(
            versions.job_id == job_id,
            versions.ref == bindparam("ref_"),
            versions.version == bindparam("number"),
        )
        .values(storage_key=bindparam("key")),
        [
            {"ref_": image.ref, "number": image.kept_previous[0], "key": image.kept_previous[1]}
            for image in moved
            if image.kept_previous is not None
        ],
    )


def _record_checks(s: Session, images: list[StoredImage]) -> None:
    """The previous image's check follows it under versions/; the new image's is recorded for its key."""
    copy_checks(
        s,
        REFERENCE_BUCKET,
        {
            image.version["storage_key"]: image.kept_previous[1]
            for image in images
            if image.kept_previous is not None
        },
    )
    record_checks(
        s,
        REFERENCE_BUCKET,
        {image.version["storage_key"]: image.check for image in images if image.check is not None},
    )


def _version_values(job_id: str, image: StoredImage, number: int) -> dict[str, Any]:
    values = dict(image.version)
    values.update(job_id=job_id, ref=image.ref, version=number)
    return values


def row_values(row: Any) -> dict[str, Any]:
    """The column values set on an unsaved ORM row (defaults are left to the insert)."""
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if getattr(row, column.key) is not None and column.key != "id"
    }


__all__ = ["ReferenceRecords", "ReferenceStatus", "StoredImage", "row_values"]
