"""A job's references and their versions. Writes for a running job are made for its lease (`held`), so a
process that lost the job can no longer change them; many images are recorded in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, func, insert, select, update
from sqlalchemy.orm import Session

from studio.records import leases
from studio.records.database import Database
from studio.records.leases import Lease
from studio.records.schema import JobRow, ReferenceRow, ReferenceVersionRow, utcnow

_REFERENCES = cast(Table, ReferenceRow.__table__)
_VERSIONS = cast(Table, ReferenceVersionRow.__table__)


@dataclass
class StoredImage:
    """One image just put in storage: its version row, the reference's new state."""

    ref: str
    version: ReferenceVersionRow
    reference: dict[str, Any] = field(default_factory=dict)
    kept_previous: tuple[int, str] | None = None
    """(version, key under versions/) where the image it replaces now lives."""


def _holds(s: Session, lease: Lease) -> bool:
    return bool(s.scalar(select(exists().where(leases.held(lease)))))


class ReferenceRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of_job(self, job_id: str) -> dict[str, ReferenceRow]:
        with self.db.read() as s:
            return _of_job(s, job_id)

    async def aof_job(self, job_id: str) -> dict[str, ReferenceRow]:
        return await self.db.run(lambda s: _of_job(s, job_id))

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

        def op(s: Session) -> bool:
            if not _holds(s, lease):
                return False
            s.execute(
                update(ReferenceRow)
                .where(
                    ReferenceRow.job_id == lease.id,
                    ReferenceRow.status.in_(("queued", "generating")),
                    ReferenceRow.ref.not_in(keep),
                )
                .values(status="dropped")
            )
            known = set(s.scalars(select(ReferenceRow.ref).where(ReferenceRow.job_id == lease.id)))
            new = [{**values, "job_id": lease.id} for values in rows if values["ref"] not in known]
            if new:
                s.execute(insert(ReferenceRow), new)
            changed = [values for values in rows if values["ref"] in known]
            if changed:
                columns = _REFERENCES.c
                s.connection().execute(
                    update(_REFERENCES)
                    .where(columns.job_id == lease.id, columns.ref == bindparam("ref_"))
                    .values({name: bindparam(name) for name in changed[0] if name != "ref"}),
                    [{**values, "ref_": values["ref"]} for values in changed],
                )
            return True

        return await self.db.run(op)

    def update(self, job_id: str, ref: str, **values: Any) -> None:
        with self.db.write() as s:
            s.execute(
                update(ReferenceRow)
                .where(ReferenceRow.job_id == job_id, ReferenceRow.ref == ref)
                .values(**values)
            )

    def update_for(self, lease: Lease, ref: str, **values: Any) -> Any:
        """An op (for the database thread) that updates one reference while `lease` holds its job."""

        def op(s: Session) -> bool:
            result = s.execute(
                update(ReferenceRow)
                .where(
                    ReferenceRow.job_id == lease.id,
                    ReferenceRow.ref == ref,
                    exists().where(leases.held(lease)),
                )
                .values(**values, updated_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return op

    async def store(self, lease: Lease, images: list[StoredImage]) -> list[int | None]:
        """Record images as the latest versions of their references; each gets its version number, or None
        when the lease was lost meanwhile."""

        def op(s: Session) -> list[int | None]:
            if not images or not _holds(s, lease):
                return [None] * len(images)
            refs = [image.ref for image in images]
            query = (
                select(ReferenceVersionRow.ref, func.max(ReferenceVersionRow.version))
                .where(ReferenceVersionRow.job_id == lease.id, ReferenceVersionRow.ref.in_(refs))
                .group_by(ReferenceVersionRow.ref)
            )
            latest = {ref: number for ref, number in s.execute(query)}
            numbers = {image.ref: int(latest.get(image.ref) or 0) + 1 for image in images}
            _move_previous(s, lease.id, images)
            s.execute(
                insert(ReferenceVersionRow),
                [_version_values(lease.id, image, numbers[image.ref]) for image in images],
            )
            columns = _REFERENCES.c
            s.connection().execute(
                update(_REFERENCES)
                .where(columns.job_id == lease.id, columns.ref == bindparam("ref_"))
                .values({name: bindparam(name) for name in {*images[0].reference, "version"}}),
                [{**image.reference, "ref_": image.ref, "version": numbers[image.ref]} for image in images],
            )
            return [numbers[image.ref] for image in images]

        return await self.db.run(op)


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


def _version_values(job_id: str, image: StoredImage, number: int) -> dict[str, Any]:
    values = row_values(image.version)
    values.update(job_id=job_id, ref=image.ref, version=number)
    return values


def row_values(row: Any) -> dict[str, Any]:
    """The column values set on an unsaved ORM row (defaults are left to the insert)."""
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if getattr(row, column.key) is not None and column.key != "id"
    }


__all__ = ["JobRow", "ReferenceRecords", "StoredImage", "row_values"]
