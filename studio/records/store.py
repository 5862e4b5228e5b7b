"""The records repository: one place that reads and writes jobs, references, ledger and events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from studio.money import from_nanos, to_nanos
from studio.records.schema import EventRow, JobRow, LedgerRow, ReferenceRow, ReferenceVersionRow, utcnow


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


def _task_reservation(job_id: str, ref: str, nanos: int) -> Any:
    return (
        update(ReferenceRow)
        .where(ReferenceRow.job_id == job_id, ReferenceRow.ref == ref)
        .values(reserved_nanos=ReferenceRow.reserved_nanos + nanos)
    )


def settle_in(s: Session, job_id: str, reserved: int, actual: int, ref: str | None) -> None:
    s.execute(
        update(JobRow)
        .where(JobRow.id == job_id)
        .values(reserved_nanos=JobRow.reserved_nanos - reserved, spent_nanos=JobRow.spent_nanos + actual)
    )
    if ref is not None and reserved:
        s.execute(_task_reservation(job_id, ref, -reserved))


def ledger_row(entry: LedgerEntry) -> LedgerRow:
    return LedgerRow(
        job_id=entry.job_id,
        song_id=entry.song_id,
        stage=entry.stage,
        provider=entry.provider,
        model=entry.model,
        ref=entry.ref,
        units=str(entry.units),
        unit_name=entry.unit_name,
        unit_price_nanos=to_nanos(entry.unit_price),
        amount_nanos=to_nanos(entry.amount),
        cache_hit=entry.cache_hit,
        saved_nanos=to_nanos(entry.saved),
        prediction_id=entry.prediction_id,
    )


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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class Records:
    """Jobs, references, the cost ledger and events. Rows come back detached and read-only by convention."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )
        self.running: set[str] = set()
        """Jobs this process runs: it joins a job once, however many of its runners look for work."""
        self.running_lock = threading.Lock()
        if create:
            from studio.records.migrate import upgrade

            upgrade(self.engine)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction. SQLite takes this process's transactions one at a time: threads then hand over
        at once instead of sleeping in SQLite's busy-wait backoff (milliseconds each)."""
        with self._serial, self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # jobs -------------------------------------------------------------------------------------
    def start_job(
        self,
        job_id: str,
        plan_json: str,
        budget: Decimal,
        *,
        duration_seconds: float | None,
        concurrency: int,
        provider: str,
        model_version: str,
    ) -> JobRow:
        """Create the job, or reopen it for a resume; stale reservations of an earlier run are dropped."""
        with self.session() as s:
            job = s.get(JobRow, job_id)
            if job is None:
                job = JobRow(id=job_id, spent_nanos=0)
                s.add(job)
            job.plan_json = plan_json
            job.budget_nanos = to_nanos(budget)
            job.duration_seconds = duration_seconds
            job.concurrency = concurrency
            job.provider = provider
            job.model_version = model_version
            job.status = "running"
            job.failure_reason = None
            job.cancel_requested = False
            job.started_at = utcnow()
            job.completed_at = None
            return job

    def get_job(self, job_id: str) -> JobRow | None:
        with self.session() as s:
            return s.get(JobRow, job_id)

    def list_jobs(self, limit: int = 20) -> list[JobRow]:
        with self.session() as s:
            return list(s.scalars(select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)))

    def finish_job(
        self, job_id: str, status: str, result_json: str | None, failure_reason: str | None
    ) -> None:
        with self.session() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(
                    status=status,
                    result_json=result_json,
                    failure_reason=failure_reason,
                    completed_at=utcnow(),
                    reserved_nanos=0,
                )
            )

    def request_cancel(self, job_id: str) -> None:
        with self.session() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id).values(cancel_requested=True))

    def cancel_requested(self, job_id: str) -> bool:
        with self.session() as s:
            return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))

    # budget -----------------------------------------------------------------------------------
    def reserve(self, job_id: str, amount: Decimal, ref: str | None = None) -> bool:
        """Reserve `amount` in one conditional UPDATE, so concurrent callers can never overshoot.

        The reference's own share is recorded too, so a takeover can release what a dead owner held.
        """
        nanos = to_nanos(amount)
        with self.session() as s:
            result = s.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.spent_nanos + JobRow.reserved_nanos + nanos <= JobRow.budget_nanos,
                )
                .values(reserved_nanos=JobRow.reserved_nanos + nanos)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            if ref is not None:
                s.execute(_task_reservation(job_id, ref, nanos))
            return True

    def settle(self, job_id: str, reserved: Decimal, actual: Decimal, ref: str | None = None) -> None:
        """Release a reservation and record what the call really cost."""
        with self.session() as s:
            settle_in(s, job_id, to_nanos(reserved), to_nanos(actual), ref)

    # references -------------------------------------------------------------------------------
    def references(self, job_id: str) -> dict[str, ReferenceRow]:
        with self.session() as s:
            rows = s.scalars(
                select(ReferenceRow).where(ReferenceRow.job_id == job_id).order_by(ReferenceRow.id)
            )
            return {row.ref: row for row in rows}

    def prepare_references(
        self, job_id: str, rows: list[dict[str, Any]], keep: list[str], seen: dict[str, str] | None = None
    ) -> None:
        """Create or reset the references a run will generate, all in one transaction.

        Queued references of the job that are not in `keep` (the plan changed) are marked `dropped`. A
        reference that became stored after the caller read it as `seen` (a late commit of a process that has
        since died) is left as it is.
        """
        seen = seen or {}
        with self.session() as s:
            s.execute(
                update(ReferenceRow)
                .where(
                    ReferenceRow.job_id == job_id,
                    ReferenceRow.status == "queued",
                    ReferenceRow.ref.not_in(keep),
                )
                .values(status="dropped")
            )
            if not rows:
                return
            query = select(
                ReferenceRow.ref, ReferenceRow.reserved_nanos, ReferenceRow.status, ReferenceRow.params_hash
            ).where(ReferenceRow.job_id == job_id)
            known = {row.ref: row for row in s.execute(query.with_for_update())}
            held = 0
            new = [
                {**values, "job_id": job_id, "reserved_nanos": 0}
                for values in rows
                if values["ref"] not in known
            ]
            if new:
                s.execute(insert(ReferenceRow), new)
            for values in rows:
                ref = values["ref"]
                row = known.get(ref)
                if row is None:
                    continue
                if (
                    row.status == "stored"
                    and seen.get(ref) != "stored"
                    and row.params_hash == values["params_hash"]
                ):
                    continue
                held += row.reserved_nanos  # reservations of an earlier, interrupted run
                s.execute(
                    update(ReferenceRow)
                    .where(ReferenceRow.job_id == job_id, ReferenceRow.ref == ref)
                    .values(**{k: v for k, v in values.items() if k != "ref"}, reserved_nanos=0)
                )
            if held:
                s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id)
                    .values(reserved_nanos=JobRow.reserved_nanos - held)
                )

    def cancel_queued(self, job_id: str) -> None:
        """A cancelled job's references that never started."""
        with self.session() as s:
            s.execute(
                update(ReferenceRow)
                .where(ReferenceRow.job_id == job_id, ReferenceRow.status == "queued")
                .values(status="cancelled", error="job cancelled")
            )

    def update_reference(self, job_id: str, ref: str, **values: Any) -> None:
        with self.session() as s:
            s.execute(
                update(ReferenceRow)
                .where(ReferenceRow.job_id == job_id, ReferenceRow.ref == ref)
                .values(**values)
            )

    def versions(self, job_id: str, ref: str | None = None) -> list[ReferenceVersionRow]:
        with self.session() as s:
            query = select(ReferenceVersionRow).where(ReferenceVersionRow.job_id == job_id)
            if ref is not None:
                query = query.where(ReferenceVersionRow.ref == ref)
            return list(s.scalars(query.order_by(ReferenceVersionRow.ref, ReferenceVersionRow.version)))

    def charge(self, job_id: str, reserved: Decimal, entry: LedgerEntry) -> None:
        """Settle a reservation with what the call cost and ledger that figure, in one transaction."""
        with self.session() as s:
            if reserved or entry.amount:
                settle_in(s, job_id, to_nanos(reserved), to_nanos(entry.amount), entry.ref)
            s.add(ledger_row(entry))

    # ledger -----------------------------------------------------------------------------------
    def add_ledger(self, *entries: LedgerEntry) -> None:
        with self.session() as s:
            s.add_all([ledger_row(entry) for entry in entries])

    def ledger(self, *, job_id: str | None = None, song_id: str | None = None) -> list[LedgerEntry]:
        with self.session() as s:
            query = select(LedgerRow).order_by(LedgerRow.id)
            if job_id is not None:
                query = query.where(LedgerRow.job_id == job_id)
            if song_id is not None:
                query = query.where(LedgerRow.song_id == song_id)
            return [ledger_entry(row) for row in s.scalars(query)]

    def ledger_total(self, job_id: str) -> Decimal:
        with self.session() as s:
            nanos = s.scalar(
                select(func.coalesce(func.sum(LedgerRow.amount_nanos), 0)).where(LedgerRow.job_id == job_id)
            )
            return from_nanos(int(nanos or 0))

    # events -----------------------------------------------------------------------------------
    def add_event(self, job_id: str, type_: str, payload: dict[str, Any]) -> None:
        self.add_events(job_id, [(type_, payload)])

    def add_events(self, job_id: str, events: list[tuple[str, dict[str, Any]]]) -> None:
        with self.session() as s:
            s.add_all(
                [
                    EventRow(job_id=job_id, type=type_, payload_json=json.dumps(payload, default=str))
                    for type_, payload in events
                ]
            )

    def events(self, job_id: str, after_id: int = 0) -> list[EventRow]:
        with self.session() as s:
            query = (
                select(EventRow)
                .where(EventRow.job_id == job_id, EventRow.id > after_id)
                .order_by(EventRow.id)
            )
            return list(s.scalars(query))
