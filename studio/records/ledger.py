"""The cost ledger, job budgets and the predictions paid for.

A reservation is one conditional UPDATE made for the job's lease, so nobody but the lease holder reserves
and no number of concurrent calls can overshoot; a takeover sets the job's reservations to zero. A charge
is idempotent by prediction id (a unique index), so adopting a prediction another process already charged
never charges it twice; its amount always counts as spent, while the reservation it settles is only
released for the lease that made it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from studio.money import from_nanos, to_nanos
from studio.records.database import BatchedOp, Database
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


_JOBS = cast(Table, JobRow.__table__)
_LEDGER = cast(Table, LedgerRow.__table__)
_PREDICTIONS = cast(Table, PredictionRow.__table__)
_REFERENCES = cast(Table, ReferenceRow.__table__)
_SPEND = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job"))
    .values(spent_nanos=_JOBS.c.spent_nanos + bindparam("nanos"))
)
_RELEASE = (
    update(_JOBS)
    .where(
        _JOBS.c.id == bindparam("job"),
        _JOBS.c.lease_owner == bindparam("owner"),
        _JOBS.c.lease_epoch == bindparam("epoch"),
        _JOBS.c.status == "running",
    )
    .values(reserved_nanos=_JOBS.c.reserved_nanos - bindparam("nanos"))
)
_RESERVE = _RELEASE.values(reserved_nanos=_JOBS.c.reserved_nanos + bindparam("nanos"))
_RESERVE_WITHIN = _RESERVE.where(
    _JOBS.c.spent_nanos + _JOBS.c.reserved_nanos + bindparam("nanos") <= _JOBS.c.budget_nanos
)
_STARTED = (
    update(_REFERENCES)
    .where(_REFERENCES.c.job_id == bindparam("job"), _REFERENCES.c.ref == bindparam("ref_"))
    .values(started_epoch=bindparam("epoch_"), started_at=bindparam("at"))
)


_CHARGE = tuple(
    dialect.insert(_LEDGER)
    .on_conflict_do_nothing(index_elements=["prediction_id"])
    .returning(_LEDGER.c.prediction_id)
    for dialect in (sqlite, postgresql)
)
"""Ledger rows, each prediction once; what comes back is what was new (indexed: is it PostgreSQL)."""
_RECORD = tuple(
    dialect.insert(_PREDICTIONS).on_conflict_do_nothing(index_elements=["id"])
    for dialect in (sqlite, postgresql)
)


def _lease_params(lease: Lease, nanos: int) -> dict[str, Any]:
    return {"job": lease.id, "owner": lease.owner, "epoch": lease.epoch, "nanos": nanos}


class Charge(BatchedOp):
    """Ledger paid calls once each (by prediction id), count them as spent, release their reservations.

    A round of calls ending together is a few statements, however many calls: one insert of the entries,
    one update per job of what is spent and per lease of what is reserved. The result of each is whether
    the call was new to the ledger (an adopted prediction another process charged is not).
    """

    kind = "charge"

    def __init__(
        self, entry: LedgerEntry, lease: Lease | None = None, reserved: Decimal = Decimal(0)
    ) -> None:
        self.entry = entry
        self.lease = lease
        self.reserved = to_nanos(reserved)

    @classmethod
    def run_all(cls, session: Session, ops: list[Charge]) -> list[bool]:
        connection = session.connection()
        with_id = [op.entry.prediction_id for op in ops if op.entry.prediction_id is not None]
        rows, seen = [], set()
        for op in ops:  # in the order they came; a prediction charged twice in one batch goes in once
            pid = op.entry.prediction_id
            if pid is None or pid not in seen:
                rows.append(ledger_row_values(op.entry))
                seen.add(pid)
        inserted = connection.execute(_CHARGE[connection.dialect.name == "postgresql"], rows)
        new = {pid for pid in inserted.scalars() if pid is not None}
        if with_id:
            connection.execute(
                update(_PREDICTIONS).where(_PREDICTIONS.c.id.in_(with_id)).values(charged=True)
            )
        counted: set[str] = set()
        results: list[bool] = []
        spent: defaultdict[str, int] = defaultdict(int)
        reserved: defaultdict[Lease, int] = defaultdict(int)
        for op in ops:
            pid = op.entry.prediction_id
            is_new = pid is None or (pid in new and pid not in counted)
            if pid is not None and is_new:
                counted.add(pid)
            results.append(is_new)
            if is_new and op.entry.job_id is not None:
                spent[op.entry.job_id] += to_nanos(op.entry.amount)
            if op.lease is not None and op.reserved:
                reserved[op.lease] += op.reserved
        if any(spent.values()):
            connection.execute(
                _SPEND, [{"job": job, "nanos": nanos} for job, nanos in spent.items() if nanos]
            )
        if reserved:
            connection.execute(_RELEASE, [_lease_params(lease, nanos) for lease, nanos in reserved.items()])
        return results


class Reservation(BatchedOp):
    """Reserve a call's most possible cost for a lease, one conditional UPDATE each (concurrent callers
    can never overshoot), and mark its reference started by this epoch (a takeover looks for its call)."""

    kind = "reserve"

    def __init__(self, lease: Lease, amount: Decimal, ref: str | None, within_budget: bool) -> None:
        self.lease = lease
        self.nanos = to_nanos(amount)
        self.ref = ref
        self.within_budget = within_budget

    @classmethod
    def run_all(cls, session: Session, ops: list[Reservation]) -> list[bool]:
        connection = session.connection()
        results, started = [], []
        for op in ops:
            statement = _RESERVE_WITHIN if op.within_budget else _RESERVE
            granted = bool(connection.execute(statement, _lease_params(op.lease, op.nanos)).rowcount)
            results.append(granted)
            if granted and op.ref is not None:
                started.append({"job": op.lease.id, "ref_": op.ref, "epoch_": op.lease.epoch, "at": utcnow()})
        if started:
            connection.execute(_STARTED, started)
        return results


class PredictionRecorded(BatchedOp):
    kind = "prediction"

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @classmethod
    def run_all(cls, session: Session, ops: list[PredictionRecorded]) -> list[None]:
        rows = list({op.values["id"]: op.values for op in ops}.values())
        connection = session.connection()
        connection.execute(_RECORD[connection.dialect.name == "postgresql"], rows)
        return [None] * len(ops)


class PredictionsUsed(BatchedOp):
    kind = "used"

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    @classmethod
    def run_all(cls, session: Session, ops: list[PredictionsUsed]) -> list[None]:
        ids = sorted({pid for op in ops for pid in op.ids})
        if ids:
            session.connection().execute(
                update(_PREDICTIONS).where(_PREDICTIONS.c.id.in_(ids)).values(used=True)
            )
        return [None] * len(ops)


def charge_in(
    s: Session, entry: LedgerEntry, lease: Lease | None = None, reserved: Decimal = Decimal(0)
) -> bool:
    """Ledger a paid call once (by prediction id) and count it as spent; release `reserved` for `lease`."""
    return bool(Charge(entry, lease, reserved)(s))


class LedgerRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # budget -----------------------------------------------------------------------------------
    async def reserve(
        self,
        lease: Lease,
        amount: Decimal,
        ref: str | None = None,
        *,
        within_budget: bool = True,
        urgent: bool = True,
    ) -> bool:
        """Reserve `amount` for the lease's next call, marking `ref` started by this epoch; False when it
        would overshoot the budget (or the lease is lost). `within_budget=False` reserves a call already paid
        (an adopted prediction) whatever the budget says."""
        return bool(await self.db.run(Reservation(lease, amount, ref, within_budget), urgent=urgent))

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
        return lambda s: s.connection().execute(_RELEASE, _lease_params(lease, nanos))

    def charge_op(
        self, entry: LedgerEntry, lease: Lease | None = None, reserved: Decimal = Decimal(0)
    ) -> Charge:
        return Charge(entry, lease, reserved)

    # predictions ------------------------------------------------------------------------------
    def record_prediction_op(
        self, prediction_id: str, provider: str, ref: str, *, job_id: str | None = None,
        song_id: str | None = None, epoch: int = 0,
    ) -> PredictionRecorded:  # fmt: skip
        return PredictionRecorded(
            {
                "id": prediction_id,
                "provider": provider,
                "job_id": job_id,
                "song_id": song_id,
                "ref": ref,
                "epoch": epoch,
                "charged": False,
                "used": False,
                "created_at": utcnow(),
            }
        )

    def mark_used_op(self, prediction_ids: list[str]) -> PredictionsUsed:
        return PredictionsUsed(prediction_ids)

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
            Charge.run_all(s, [Charge(entry) for entry in entries])

    def add_op(self, *entries: LedgerEntry) -> Any:
        return lambda s: Charge.run_all(s, [Charge(entry) for entry in entries])

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
