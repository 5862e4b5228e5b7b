"""A job's references and their versions. Writes for a running job are made for its lease (`held`), so a
process that lost the job can no longer change them; many images are recorded in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, insert, select, update
from sqlalchemy.orm import Session

from studio.records.database import BatchedOp, Database, Op
from studio.records.leases import Lease
from studio.records.objects import ObjectCheck, copy_checks, record_checks
from studio.records.schema import JobRow, PredictionRow, ReferenceRow, ReferenceVersionRow, utcnow
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


_JOBS = cast(Table, JobRow.__table__)
_HOLDS = select(_JOBS.c.id).where(
    _JOBS.c.id == bindparam("job"),
    _JOBS.c.lease_owner == bindparam("owner"),
    _JOBS.c.lease_epoch == bindparam("epoch"),
    _JOBS.c.status == "running",
)


def _holds(s: Session, lease: Lease) -> bool:
    found = s.connection().execute(_HOLDS, {"job": lease.id, "owner": lease.owner, "epoch": lease.epoch})
    return found.first() is not None


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
        return bool(await self.db.run(self.prepare_op(lease, rows, refs=keep)))

    def prepare_op(self, lease: Lease, rows: list[dict[str, Any]], *, refs: list[str]) -> Op[bool]:
        keep = refs

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

        return op

    def update(self, job_id: str, ref: str, **values: Any) -> None:
        with self.db.write() as s:
            s.execute(
                update(ReferenceRow)
                .where(ReferenceRow.job_id == job_id, ReferenceRow.ref == ref)
                .values(**values)
            )

    def update_for(self, lease: Lease, ref: str, **values: Any) -> ReferenceUpdate:
        """An op (for the database thread) that updates one reference while `lease` holds its job."""
        return ReferenceUpdate(lease, ref, values)

    async def store(
        self,
        lease: Lease,
        images: list[StoredImage],
        used: list[str] = (),  # type: ignore[assignment]
    ) -> list[int | None]:
        """Record images as the latest versions of their references, and the predictions that made them as
        used; each gets its version number, or None when the lease was lost meanwhile. Images stored about
        the same moment are recorded together."""
        return list(await self.db.run(VersionsStored(lease, images, list(used)), urgent=False))


class ReferenceUpdate(BatchedOp):
    """Updates of the same columns of references of leased jobs: one statement for all of them."""

    def __init__(self, lease: Lease, ref: str, values: dict[str, Any]) -> None:
        self.lease = lease
        self.ref = ref
        self.values = {**values, "updated_at": utcnow()}
        self.kind = ",".join(sorted(self.values))
        self.touches = frozenset({(lease.id, ref)})

    @classmethod
    def run_all(cls, session: Session, ops: list[ReferenceUpdate]) -> list[bool]:
        jobs = cast(Table, JobRow.__table__).c
        columns = _REFERENCES.c
        held = exists().where(
            jobs.id == columns.job_id,
            jobs.lease_owner == bindparam("owner_"),
            jobs.lease_epoch == bindparam("epoch_"),
            jobs.status == "running",
        )
        statement = (
            update(_REFERENCES)
            .where(columns.job_id == bindparam("job_"), columns.ref == bindparam("ref_"), held)
            .values({name: bindparam(name) for name in ops[0].values})
        )
        session.connection().execute(
            statement,
            [
                {
                    **op.values,
                    "job_": op.lease.id,
                    "ref_": op.ref,
                    "owner_": op.lease.owner,
                    "epoch_": op.lease.epoch,
                }
                for op in ops
            ],
        )
        return [True] * len(ops)


class VersionsStored(BatchedOp):
    """Images stored by one lease holder, recorded as new versions in a fixed number of statements."""

    kind = "versions"

    def __init__(self, lease: Lease, images: list[StoredImage], used: list[str]) -> None:
        self.lease = lease
        self.images = images
        self.used = used
        self.touches = frozenset((lease.id, image.ref) for image in images)

    @classmethod
    def run_all(cls, session: Session, ops: list[VersionsStored]) -> list[list[int | None]]:
        by_lease: dict[Lease, list[StoredImage]] = {}
        for op in ops:
            by_lease.setdefault(op.lease, []).extend(op.images)
        used = sorted({prediction_id for op in ops for prediction_id in op.used})
        if used:
            predictions = cast(Table, PredictionRow.__table__)
            session.connection().execute(
                update(predictions).where(predictions.c.id.in_(used)).values(used=True)
            )
        numbers: dict[tuple[Lease, str], int] = {}
        for lease, images in by_lease.items():
            numbers.update(
                {(lease, ref): number for ref, number in _record_versions(session, lease, images).items()}
            )
        return [[numbers.get((op.lease, image.ref)) for image in op.images] for op in ops]


def _record_versions(s: Session, lease: Lease, images: list[StoredImage]) -> dict[str, int]:
    """Each image's version number (the lease holder numbers them: it alone writes the job's versions);
    none when the lease was lost meanwhile."""
    if not images or not _holds(s, lease):
        return {}
    numbers = {image.ref: image.version["version"] for image in images}
    _move_previous(s, lease.id, images)
    _record_checks(s, images)
    connection = s.connection()
    connection.execute(
        insert(_VERSIONS), [_version_values(lease.id, image, image.version["version"]) for image in images]
    )
    columns = _REFERENCES.c
    connection.execute(
        update(_REFERENCES)
        .where(columns.job_id == lease.id, columns.ref == bindparam("ref_"))
        .values({name: bindparam(name) for name in {*images[0].reference, "version"}}),
        [{**image.reference, "ref_": image.ref, "version": image.version["version"]} for image in images],
    )
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


__all__ = ["JobRow", "ReferenceRecords", "StoredImage", "row_values"]
