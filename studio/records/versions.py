"""Recording stored images as reference versions: many at once, each only while its lease is still held."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from studio.money import to_nanos
from studio.records.schema import JobRow, LedgerRow, ReferenceRow, ReferenceVersionRow
from studio.records.store import LedgerEntry, Records, ledger_row

_REFERENCES = cast(Table, ReferenceRow.__table__)
_VERSIONS = cast(Table, ReferenceVersionRow.__table__)


@dataclass
class StoredImage:
    """One image just put in storage: its version row, the reference's new state, and what it cost."""

    ref: str
    version: ReferenceVersionRow
    reference: dict[str, Any] = field(default_factory=dict)
    charge: LedgerEntry | None = None
    reserved_nanos: int = 0
    kept_previous: tuple[int, str] | None = None
    """(version, key under versions/) where the image it replaces now lives."""


def store_versions(records: Records, job_id: str, owner: str, images: list[StoredImage]) -> list[int | None]:
    """Record every image in one transaction and a fixed number of statements, however many there are.

    Each gets its version number, or None if its lease was lost meanwhile. Charges are recorded either
    way: the call was paid for, whoever keeps the result.
    """
    refs = [image.ref for image in images]
    with records.session() as s:
        _charge_all(s, job_id, images)
        held = set(
            s.scalars(
                select(ReferenceRow.ref).where(
                    ReferenceRow.job_id == job_id,
                    ReferenceRow.ref.in_(refs),
                    ReferenceRow.lease_owner == owner,
                )
            )
        )
        mine = [image for image in images if image.ref in held]
        if not mine:
            return [None] * len(images)
        query = (
            select(ReferenceVersionRow.ref, func.max(ReferenceVersionRow.version))
            .where(ReferenceVersionRow.job_id == job_id, ReferenceVersionRow.ref.in_(list(held)))
            .group_by(ReferenceVersionRow.ref)
        )
        latest = {ref: number for ref, number in s.execute(query)}
        numbers = {image.ref: int(latest.get(image.ref) or 0) + 1 for image in mine}
        _move_previous(s, job_id, mine)
        s.execute(
            insert(ReferenceVersionRow),
            [_version_values(job_id, image, numbers[image.ref]) for image in mine],
        )
        references = _REFERENCES.c
        s.connection().execute(
            update(_REFERENCES)
            .where(references.job_id == job_id, references.ref == bindparam("ref_"))
            .values({name: bindparam(name) for name in {*mine[0].reference, "version", "reserved_nanos"}}),
            [
                {**image.reference, "ref_": image.ref, "version": numbers[image.ref], "reserved_nanos": 0}
                for image in mine
            ],
        )
        return [numbers.get(image.ref) for image in images]


def _charge_all(s: Session, job_id: str, images: list[StoredImage]) -> None:
    charged = [image for image in images if image.charge is not None]
    if not charged:
        return
    reserved = sum(image.reserved_nanos for image in charged)
    spent = sum(to_nanos(image.charge.amount) for image in charged if image.charge is not None)
    s.execute(
        update(JobRow)
        .where(JobRow.id == job_id)
        .values(reserved_nanos=JobRow.reserved_nanos - reserved, spent_nanos=JobRow.spent_nanos + spent)
    )
    s.execute(
        insert(LedgerRow),
        [_row_values(ledger_row(image.charge)) for image in charged if image.charge is not None],
    )


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
    values = _row_values(image.version)
    values.update(job_id=job_id, ref=image.ref, version=number)
    return values


def _row_values(row: Any) -> dict[str, Any]:
    """The column values set on an unsaved ORM row (defaults are left to the insert)."""
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if getattr(row, column.key) is not None and column.key != "id"
    }
