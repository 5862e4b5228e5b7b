"""The pace of each provider account, shared by every process that uses the records database.

One row per account: the pace in use (calls a minute), the earliest moment the next call may go, and until
when the provider said its limit is spent. A call takes its moment in one atomic UPDATE ... RETURNING (the
generic cell rate algorithm: each call moves `next_at` on by one interval), so no two processes, on one
machine (SQLite) or many (PostgreSQL), are given the same moment. A 429 holds every caller until the
provider's reset and slows the pace by a tenth, or to one call per reset when that is slower (once per
hold), and climbs back to the configured ceiling over RECOVERY_SECONDS from that 429. Moments
are seconds since the epoch: processes on several machines share them, so their clocks are assumed to agree
(NTP) to well within one interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, String, bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from studio.records.schema import Base

RECOVERY_SECONDS = 5.0
"""How long a slowed pace takes to climb back to the ceiling from the 429 that slowed it (linearly): a hold
for a window's reset (a minute) ends at full pace, one for a second's limit a little above the pace it set."""
SLOWDOWN = 0.9
"""What a 429 leaves of the pace (once per hold)."""
FLOOR_SHARE = 1 / 64
"""The slowest pace, as a share of the ceiling (at least one call a minute)."""


class PaceRow(Base):
    __tablename__ = "provider_paces"

    account: Mapped[str] = mapped_column(String(80), primary_key=True)
    """`replicate:<digest of the token>`: the provider and which of its accounts (never the token)."""
    per_minute: Mapped[float] = mapped_column(Float)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)
    """Epoch seconds: the earliest the next call may go."""
    last_at: Mapped[float] = mapped_column(Float, default=0.0)
    """The moment given to the latest call."""
    held_until: Mapped[float] = mapped_column(Float, default=0.0)
    """Epoch seconds: when the provider said its limit resets, after its latest 429."""
    slowed_at: Mapped[float] = mapped_column(Float, default=0.0)
    """Epoch seconds: the 429 that slowed the pace (the pace climbs back from then)."""
    throttled: Mapped[int] = mapped_column(Integer, default=0)
    """429s answered to calls of this account, ever."""


@dataclass(frozen=True)
class PaceState:
    """An account's pace as the doctor and the pages show it."""

    account: str
    per_minute: float
    next_at: float
    held_until: float
    throttled: int


def _larger(a: Any, b: Any) -> ColumnElement[float]:
    return case((a > b, a), else_=b)


def _smaller(a: Any, b: Any) -> ColumnElement[float]:
    return case((a < b, a), else_=b)


_NOW = bindparam("now", type_=Float)
_CEILING = bindparam("ceiling", type_=Float)
_FLOOR = bindparam("floor", type_=Float)
_WAIT = bindparam("wait", type_=Float)
_ACCOUNT = bindparam("account_key", type_=String)

_PACE = _smaller(
    case(
        (
            PaceRow.slowed_at < _NOW,
            PaceRow.per_minute + (_NOW - PaceRow.slowed_at) * _CEILING / RECOVERY_SECONDS,
        ),
        else_=PaceRow.per_minute,
    ),
    _CEILING,
)
"""The pace now: the slowed pace of the latest 429, climbing back to the ceiling from then."""

_TAKE = (
    update(PaceRow)
    .where(PaceRow.account == _ACCOUNT)
    .values(
        last_at=_larger(PaceRow.next_at, _NOW),
        next_at=_larger(PaceRow.next_at, _NOW) + 60.0 / _PACE,
    )
    .returning(PaceRow.last_at)
)
"""One statement: the caller's moment is the later of `next_at` and now; `next_at` moves on one interval."""

_HOLD = (
    update(PaceRow)
    .where(PaceRow.account == _ACCOUNT)
    .values(
        per_minute=case(
            (PaceRow.held_until <= _NOW, _larger(_smaller(_PACE * SLOWDOWN, 60.0 / _WAIT), _FLOOR)),
            else_=PaceRow.per_minute,
        ),
        slowed_at=case((PaceRow.held_until <= _NOW, _NOW), else_=PaceRow.slowed_at),
        held_until=_larger(PaceRow.held_until, _NOW + _WAIT),
        next_at=_larger(PaceRow.next_at, _NOW + _WAIT),
        throttled=PaceRow.throttled + 1,
    )
)
"""One statement: nobody calls before the provider's reset; the pace slows once per hold, to at most one call
per reset (a reset of a second says the account takes about one call a second)."""

_CREATE = {
    "postgresql": postgresql.insert(PaceRow).on_conflict_do_nothing(index_elements=["account"]),
    "sqlite": sqlite.insert(PaceRow).on_conflict_do_nothing(index_elements=["account"]),
}


def ensure_in(s: Session, account: str, per_minute: float) -> None:
    """The account's row, made at the configured pace when it has none yet."""
    statement = _CREATE[s.get_bind().dialect.name]
    values = {"account": account, "per_minute": per_minute, "next_at": 0.0, "last_at": 0.0, "held_until": 0.0}
    values["slowed_at"] = 0.0
    s.execute(statement, {**values, "throttled": 0})


def take_in(s: Session, account: str, ceiling: float, now: float) -> float:
    """The moment (epoch seconds) the caller's call may go, reserved for it."""
    moment = s.execute(_TAKE, {"account_key": account, "ceiling": ceiling, "now": now}).scalar_one_or_none()
    if moment is None:
        ensure_in(s, account, ceiling)
        moment = s.execute(_TAKE, {"account_key": account, "ceiling": ceiling, "now": now}).scalar_one()
    return float(moment)


def hold_in(s: Session, account: str, ceiling: float, now: float, wait: float) -> None:
    """The provider answered 429: every caller waits `wait` seconds from `now`, and the pace slows."""
    floor = max(1.0, ceiling * FLOOR_SHARE)
    ensure_in(s, account, ceiling)
    values = {"ceiling": ceiling, "floor": floor, "now": now, "wait": max(wait, 0.001)}
    s.execute(_HOLD, {"account_key": account, **values})


def state_in(s: Session, account: str, ceiling: float, now: float) -> PaceState | None:
    """The account's pace at `now`, None when no call was paced yet."""
    query = select(PaceRow.account, _PACE, PaceRow.next_at, PaceRow.held_until, PaceRow.throttled).where(
        PaceRow.account == _ACCOUNT
    )
    row = s.execute(query, {"account_key": account, "ceiling": ceiling, "now": now}).one_or_none()
    return None if row is None else PaceState(*row)
