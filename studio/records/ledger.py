"""The cost ledger: one line per paid call (per prediction id: a unique index) or cache hit, read for the
cost reports. Charges are written with the paid calls that made them (studio.records.paid_calls)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from studio.money import from_nanos, to_nanos
from studio.records.database import Database
from studio.records.schema import LedgerRow, utcnow

if TYPE_CHECKING:
    from studio.records.jobs import Job


@dataclass(frozen=True)
class LedgerEntry:
    stage: str
    provider: str
    model: str
    amount: Decimal
    job_id: str | None = None
    song_id: str | None = None
    ref: str | None = None
    units: Decimal = Decimal("0")
    unit_name: str = "image"
    unit_price: Decimal = Decimal("0")
    cache_hit: bool = False
    saved: Decimal = Decimal("0")
    prediction_id: str | None = None
    created_at: datetime | None = None
    work_id: str | None = None
    """The unit of work whose budget the charge counts in."""


def ledger_row_values(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "job_id": entry.job_id,
        "song_id": entry.song_id,
        "stage": entry.stage,
        "provider": entry.provider,
        "model": entry.model,
        "ref": entry.ref,
        "units": str(entry.units),
        "unit_name": entry.unit_name,
        "unit_price_nanos": to_nanos(entry.unit_price),
        "amount_nanos": to_nanos(entry.amount),
        "cache_hit": entry.cache_hit,
        "saved_nanos": to_nanos(entry.saved),
        "prediction_id": entry.prediction_id,
        "created_at": entry.created_at or utcnow(),
        "work_id": entry.work_id,
    }


def ledger_entry(row: LedgerRow) -> LedgerEntry:
    return LedgerEntry(
        stage=row.stage,
        provider=row.provider,
        model=row.model,
        amount=from_nanos(row.amount_nanos),
        job_id=row.job_id,
        song_id=row.song_id,
        ref=row.ref,
        units=Decimal(row.units),
        unit_name=row.unit_name,
        unit_price=from_nanos(row.unit_price_nanos),
        cache_hit=row.cache_hit,
        saved=from_nanos(row.saved_nanos),
        prediction_id=row.prediction_id,
        created_at=row.created_at,
        work_id=row.work_id,
    )


class LedgerRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ledger -----------------------------------------------------------------------------------
    def add(self, *entries: LedgerEntry) -> None:
        """Ledger charges that belong to no unit of work's budget (tests, imports)."""
        from studio.records.paid_calls import charge_in

        with self.db.write() as s:
            for entry in entries:
                charge_in(s, entry)

    def entries(
        self, *, job_id: str | None = None, song_id: str | None = None, work_id: str | None = None
    ) -> list[LedgerEntry]:
        with self.db.read() as s:
            query = select(LedgerRow).order_by(LedgerRow.id)
            if work_id is not None:
                query = query.where(LedgerRow.work_id == work_id)
            if job_id is not None:
                query = query.where(LedgerRow.job_id == job_id)
            if song_id is not None:
                query = query.where(LedgerRow.song_id == song_id)
            return [ledger_entry(row) for row in s.scalars(query)]

    def total(self, job_id: str) -> Decimal:
        with self.db.read() as s:
            nanos = s.scalar(
                select(func.coalesce(func.sum(LedgerRow.amount_nanos), 0)).where(LedgerRow.job_id == job_id)
            )
            return from_nanos(int(nanos or 0))

    def job_report(self, job_id: str) -> tuple[Job, list[LedgerEntry], int, int] | None:
        """A cost report's inputs: the job, its (and its song's) entries, versions stored, characters made."""
        from studio.records.jobs import job_in
        from studio.records.schema import ReferenceVersionRow
        from studio.records.songs import CharacterJobRow, ConsistencyStatus

        with self.db.read() as s:
            job = job_in(s, job_id)
            if job is None:
                return None
            mine = LedgerRow.job_id == job_id
            where = mine if job.song_id is None else or_(mine, LedgerRow.song_id == job.song_id)
            rows = s.scalars(select(LedgerRow).where(where).order_by(LedgerRow.created_at, LedgerRow.id))
            entries = [ledger_entry(row) for row in rows]
            versions = s.scalar(
                select(func.count())
                .select_from(ReferenceVersionRow)
                .where(ReferenceVersionRow.job_id == job_id)
            )
            generated = 0
            if job.song_id is not None:
                generated = (
                    s.scalar(
                        select(func.count())
                        .select_from(CharacterJobRow)
                        .where(
                            CharacterJobRow.song_id == job.song_id,
                            CharacterJobRow.outcome == ConsistencyStatus.COMPLETED,
                        )
                    )
                    or 0
                )
            return job, entries, int(versions or 0), int(generated)

    def song_spend(self) -> dict[str, dict[str, Decimal]]:
        """Per song, what its own calls cost by stage (consistency, interrogation, looks): entries with a
        song and no job."""
        with self.db.read() as s:
            rows = s.execute(
                select(LedgerRow.song_id, LedgerRow.stage, func.sum(LedgerRow.amount_nanos))
                .where(LedgerRow.song_id.is_not(None), LedgerRow.job_id.is_(None))
                .group_by(LedgerRow.song_id, LedgerRow.stage)
            )
            spend: dict[str, dict[str, Decimal]] = {}
            for song_id, stage, nanos in rows:
                spend.setdefault(str(song_id), {})[stage] = from_nanos(int(nanos or 0))
            return spend
