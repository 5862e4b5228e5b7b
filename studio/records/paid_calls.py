"""The journal of paid calls: every call to a provider that may cost money, from the moment it is made.

A call is recorded before it goes out (`started`, with the budget it reserves), gets its prediction id as
soon as the provider gives it, is `settled` when the provider ended it and it is charged (one ledger line per
prediction: a unique index), and `kept` once its image is stored, or `dropped` when there is nothing to keep.
Whoever takes a unit of work over reads its calls that are neither kept nor dropped and adopts them (by id,
or found at the provider by what was asked) instead of paying again.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import DateTime, Integer, String, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from studio.money import to_nanos
from studio.records.ledger import LedgerEntry, ledger_row_values
from studio.records.schema import Base, LedgerRow, utcnow
from studio.records.work import HELD, Lease, WorkRow, lease_params


class CallState(StrEnum):
    STARTED = "started"
    """Made (or about to be): its outcome is not known here yet."""
    SETTLED = "settled"
    """Ended at the provider and charged; its image is not stored yet."""
    KEPT = "kept"
    """Its image is stored."""
    DROPPED = "dropped"
    """Nothing to keep: it failed, was cancelled, or was never found at the provider."""


UNFINISHED = (CallState.STARTED, CallState.SETTLED)


class PaidCallRow(Base):
    __tablename__ = "paid_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    work_id: Mapped[str] = mapped_column(String(36), index=True)
    ref: Mapped[str] = mapped_column(String(80))
    """What the call is for, within its work: `scene_rooftop`, `character_look_r2-3`."""
    epoch: Mapped[int] = mapped_column(Integer)
    """The lease epoch of the work that made (or adopted) it."""
    provider: Mapped[str] = mapped_column(String(32))
    prediction_id: Mapped[str | None] = mapped_column(String(80), nullable=True, unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    song_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


_RESERVE = (
    update(WorkRow)
    .where(HELD)
    .values(reserved_nanos=WorkRow.reserved_nanos + bindparam("nanos"))
    .execution_options(synchronize_session=False)
)
_RESERVE_WITHIN = _RESERVE.where(
    WorkRow.spent_nanos + WorkRow.reserved_nanos + bindparam("nanos") <= WorkRow.budget_nanos
)
_RELEASE = (
    update(WorkRow)
    .where(HELD)
    .values(reserved_nanos=WorkRow.reserved_nanos - bindparam("nanos"))
    .execution_options(synchronize_session=False)
)
_SPEND = (
    update(WorkRow)
    .where(WorkRow.id == bindparam("work"))
    .values(spent_nanos=WorkRow.spent_nanos + bindparam("nanos"))
    .execution_options(synchronize_session=False)
)
_START = insert(PaidCallRow).returning(PaidCallRow.id)
_KNOWN = (
    update(PaidCallRow)
    .where(PaidCallRow.id == bindparam("call"))
    .values(prediction_id=bindparam("prediction"), updated_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)
_SETTLE = _KNOWN.values(state=bindparam("to"))
_MARK = (
    update(PaidCallRow)
    .where(PaidCallRow.id.in_(bindparam("calls", expanding=True)))
    .values(state=bindparam("to"), updated_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)
_CHARGE = {
    "postgresql": postgresql.insert(LedgerRow).returning(LedgerRow.id),
    "sqlite": sqlite.insert(LedgerRow).returning(LedgerRow.id),
}
_ONCE = ["prediction_id"]
_CHARGE_ONCE = {
    "postgresql": postgresql.insert(LedgerRow)
    .on_conflict_do_nothing(index_elements=_ONCE)
    .returning(LedgerRow.id),
    "sqlite": sqlite.insert(LedgerRow).on_conflict_do_nothing(index_elements=_ONCE).returning(LedgerRow.id),
}
"""Statements built once: the writes made for every image build nothing per call."""


def reserve_in(s: Session, lease: Lease, nanos: int, *, within_budget: bool = True) -> bool:
    """Reserve `nanos` of the work's budget for the lease's next call (one conditional UPDATE: concurrent
    callers can never overshoot); False when the budget has no room or the lease was lost."""
    statement = _RESERVE_WITHIN if within_budget else _RESERVE
    return bool(s.connection().execute(statement, {**lease_params(lease), "nanos": nanos}).rowcount)


def release_in(s: Session, lease: Lease, nanos: int) -> None:
    """A reservation given back (its call settled or never went out); only the lease's own."""
    if nanos:
        s.connection().execute(_RELEASE, {**lease_params(lease), "nanos": nanos})


def start_in(
    s: Session, lease: Lease, ref: str, provider: str, *, job_id: str | None, song_id: str | None
) -> int:
    """Record a call about to go out for the lease; its id."""
    now = utcnow()
    values = {
        "work_id": lease.id,
        "ref": ref,
        "epoch": lease.epoch,
        "provider": provider,
        "prediction_id": None,
        "state": CallState.STARTED,
        "job_id": job_id,
        "song_id": song_id,
        "started_at": now,
        "updated_at": now,
    }
    return int(s.connection().execute(_START, values).scalar_one())


def known_in(s: Session, call_id: int, prediction_id: str) -> None:
    """The provider gave the call's prediction id."""
    s.connection().execute(_KNOWN, {"call": call_id, "prediction": prediction_id, "at": utcnow()})


def charge_in(s: Session, entry: LedgerEntry) -> bool:
    """Ledger one charge (once per prediction id) and count it as its work's spending; whether it was new."""
    connection = s.connection()
    statements = _CHARGE_ONCE if entry.prediction_id is not None else _CHARGE
    added = connection.execute(statements[connection.dialect.name], ledger_row_values(entry))
    new = added.first() is not None  # a row comes back only when it was new
    if new and entry.work_id is not None and entry.amount:
        connection.execute(_SPEND, {"work": entry.work_id, "nanos": to_nanos(entry.amount)})
    return new


def settle_in(
    s: Session,
    lease: Lease,
    call_id: int,
    entry: LedgerEntry,
    reserved: Decimal,
    state: CallState = CallState.SETTLED,
) -> bool:
    """The provider ended the call: charge it (once), free its reservation and move it to `state` (SETTLED
    when its image is still to be stored, DROPPED when there is none). Whether the charge was new."""
    new = charge_in(s, entry)
    release_in(s, lease, to_nanos(reserved))
    params = {"call": call_id, "prediction": entry.prediction_id, "to": state, "at": utcnow()}
    s.connection().execute(_SETTLE, params)
    return new


def mark_in(s: Session, call_ids: list[int], state: CallState) -> None:
    if call_ids:
        s.connection().execute(_MARK, {"calls": call_ids, "to": state, "at": utcnow()})


def adopt_in(s: Session, lease: Lease, call_id: int) -> None:
    """The lease's holder adopts an earlier holder's call: it is now the lease's."""
    s.execute(
        update(PaidCallRow)
        .where(PaidCallRow.id == call_id)
        .values(epoch=lease.epoch, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def found_in(s: Session, lease: Lease, call: PaidCallRow, prediction_ids: list[str]) -> list[PaidCallRow]:
    """Predictions found at the provider for a call whose id was never recorded: the first becomes the
    call's id, each further one a call of its own; ids some call already has are skipped. The calls to adopt
    (a call with nothing found is dropped)."""
    known = set(
        s.scalars(select(PaidCallRow.prediction_id).where(PaidCallRow.prediction_id.in_(prediction_ids)))
    )
    known |= set(
        s.scalars(select(LedgerRow.prediction_id).where(LedgerRow.prediction_id.in_(prediction_ids)))
    )
    fresh = [prediction_id for prediction_id in prediction_ids if prediction_id not in known]
    row = s.get(PaidCallRow, call.id)
    if row is None:
        return []
    if not fresh:
        row.state = CallState.DROPPED
        row.updated_at = utcnow()
        return []
    row.prediction_id, row.epoch, row.updated_at = fresh[0], lease.epoch, utcnow()
    adopted = [row]
    for prediction_id in fresh[1:]:
        extra = PaidCallRow(
            work_id=row.work_id, ref=row.ref, epoch=lease.epoch, provider=row.provider,
            prediction_id=prediction_id, state=CallState.STARTED, job_id=row.job_id, song_id=row.song_id,
            started_at=row.started_at, updated_at=utcnow(),
        )  # fmt: skip
        s.add(extra)
        adopted.append(extra)
    s.flush()
    return adopted


def unfinished_in(s: Session, work_id: str) -> list[PaidCallRow]:
    """The work's calls neither kept nor dropped, oldest first: what a takeover adopts."""
    query = (
        select(PaidCallRow)
        .where(PaidCallRow.work_id == work_id, PaidCallRow.state.in_(UNFINISHED))
        .order_by(PaidCallRow.started_at, PaidCallRow.id)
    )
    return list(s.scalars(query))
