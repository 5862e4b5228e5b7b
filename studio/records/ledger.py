"""The cost ledger, job budgets and the predictions paid for.

A reservation is one conditional UPDATE made for the job's lease, so nobody but the lease holder reserves
and no number of concurrent calls can overshoot; a takeover sets the job's reservations to zero. A charge
is idempotent by prediction id (a unique index), so adopting a prediction another process already charged
never charges it twice; its amount always counts as spent, while the reservation it settles is only
released for the lease that made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from studio.money import from_nanos, to_nanos
from studio.records import leases
from studio.records.database import Database
from studio.records.leases import Lease
from studio.records.schema import JobRow, LedgerRow, PredictionRow, ReferenceRow, utcnow


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
    )


def _dialect(s: Session) -> Any:
    return postgresql if s.get_bind().dialect.name == "postgresql" else sqlite


def charge_in(
    s: Session, entry: LedgerEntry, lease: Lease | None = None, reserved: Decimal = Decimal(0)
) -> bool:
    """Ledger a paid call once (by prediction id) and count it as spent; release `reserved` for `lease`.

    Returns whether the call was new to the ledger.
    """
    values = ledger_row_values(entry)
    if entry.prediction_id is None:
        s.execute(insert(LedgerRow).values(**values))
        new = True
    else:
        inserted = s.execute(
            _dialect(s)
            .insert(LedgerRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["prediction_id"])
            .returning(LedgerRow.id)
        ).first()
        new = inserted is not None
        s.execute(update(PredictionRow).where(PredictionRow.id == entry.prediction_id).values(charged=True))
    spent = to_nanos(entry.amount) if new else 0
    if entry.job_id is not None and spent:
        s.execute(
            update(JobRow).where(JobRow.id == entry.job_id).values(spent_nanos=JobRow.spent_nanos + spent)
        )
    if lease is not None and reserved:
        s.execute(
            update(JobRow)
            .where(leases.held(lease))
            .values(reserved_nanos=JobRow.reserved_nanos - to_nanos(reserved))
        )
    return new


class LedgerRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # budget -----------------------------------------------------------------------------------
    async def reserve(
        self, lease: Lease, amount: Decimal, ref: str | None = None, *, within_budget: bool = True
    ) -> bool:
        """Reserve `amount` for the lease's next call, marking `ref` started by this epoch; False when it
        would overshoot the budget (or the lease is lost). `within_budget=False` reserves a call already paid
        (an adopted prediction) whatever the budget says."""
        nanos = to_nanos(amount)

        def op(s: Session) -> bool:
            condition = [leases.held(lease)]
            if within_budget:
                condition.append(JobRow.spent_nanos + JobRow.reserved_nanos + nanos <= JobRow.budget_nanos)
            result = s.execute(
                update(JobRow).where(*condition).values(reserved_nanos=JobRow.reserved_nanos + nanos)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            if ref is not None:
                s.execute(
                    update(ReferenceRow)
                    .where(ReferenceRow.job_id == lease.id, ReferenceRow.ref == ref)
                    .values(status="generating", started_epoch=lease.epoch, started_at=utcnow())
                )
            return True

        return await self.db.run(op)

    async def budget(self, job_id: str) -> tuple[int, int, int]:
        """(budget, spent, reserved) in nanos."""

        def op(s: Session) -> tuple[int, int, int]:
            row = s.execute(
                select(JobRow.budget_nanos, JobRow.spent_nanos, JobRow.reserved_nanos).where(
                    JobRow.id == job_id
                )
            ).one()
            return int(row[0]), int(row[1]), int(row[2])

        return await self.db.run(op)

    def release_op(self, lease: Lease, reserved: Decimal) -> Any:
        """A reservation given back unused."""
        nanos = to_nanos(reserved)
        return lambda s: s.execute(
            update(JobRow).where(leases.held(lease)).values(reserved_nanos=JobRow.reserved_nanos - nanos)
        )

    def charge_op(
        self, entry: LedgerEntry, lease: Lease | None = None, reserved: Decimal = Decimal(0)
    ) -> Any:
        return lambda s: charge_in(s, entry, lease, reserved)

    # predictions ------------------------------------------------------------------------------
    def record_prediction_op(
        self, prediction_id: str, provider: str, ref: str, *, job_id: str | None = None,
        song_id: str | None = None, epoch: int = 0,
    ) -> Any:  # fmt: skip
        def op(s: Session) -> None:
            values = {
                "id": prediction_id,
                "provider": provider,
                "job_id": job_id,
                "song_id": song_id,
                "ref": ref,
                "epoch": epoch,
                "created_at": utcnow(),
            }
            s.execute(
                _dialect(s)
                .insert(PredictionRow)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["id"])
            )

        return op

    def mark_used_op(self, prediction_ids: list[str]) -> Any:
        def op(s: Session) -> None:
            if prediction_ids:
                s.execute(update(PredictionRow).where(PredictionRow.id.in_(prediction_ids)).values(used=True))

        return op

    async def open_predictions(
        self, job_id: str | None = None, song_id: str | None = None
    ) -> list[PredictionRow]:
        """Predictions whose image was never stored nor given up: what a takeover adopts."""

        def op(s: Session) -> list[PredictionRow]:
            query = select(PredictionRow).where(PredictionRow.used.is_(False))
            if job_id is not None:
                query = query.where(PredictionRow.job_id == job_id)
            if song_id is not None:
                query = query.where(PredictionRow.song_id == song_id)
            return list(s.scalars(query.order_by(PredictionRow.created_at, PredictionRow.id)))

        return await self.db.run(op)

    async def known_predictions(self, ids: list[str]) -> set[str]:
        def op(s: Session) -> set[str]:
            if not ids:
                return set()
            found = set(s.scalars(select(PredictionRow.id).where(PredictionRow.id.in_(ids))))
            return found | set(
                s.scalars(select(LedgerRow.prediction_id).where(LedgerRow.prediction_id.in_(ids)))
            )

        return await self.db.run(op)

    # ledger -----------------------------------------------------------------------------------
    def add(self, *entries: LedgerEntry) -> None:
        with self.db.write() as s:
            for entry in entries:
                charge_in(s, entry)

    def add_op(self, *entries: LedgerEntry) -> Any:
        def op(s: Session) -> None:
            for entry in entries:
                charge_in(s, entry)

        return op

    def entries(self, *, job_id: str | None = None, song_id: str | None = None) -> list[LedgerEntry]:
        with self.db.read() as s:
            query = select(LedgerRow).order_by(LedgerRow.id)
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

    def job_report(self, job_id: str) -> tuple[JobRow, list[LedgerEntry], int, int] | None:
        """A cost report's inputs: the job, its (and its song's) entries, versions stored, characters made."""
        from studio.records.schema import ReferenceVersionRow
        from studio.records.songs import CharacterJobRow

        with self.db.read() as s:
            job = s.get(JobRow, job_id)
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
                        .where(CharacterJobRow.song_id == job.song_id, CharacterJobRow.status == "completed")
                    )
                    or 0
                )
            return job, entries, int(versions or 0), int(generated)
