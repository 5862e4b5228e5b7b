"""A running job's budget as its lease holder sees it: reservations wait in process, the database decides.

Only the lease holder reserves for a job, so the in-process view is exact, and a call waits on the calls in
flight (a condition, not a polling loop). The conditional UPDATE in the database is still the authority: a
process whose lease was taken over is refused, and so is a reservation the ledger has no room for.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from studio.errors import BudgetExceeded
from studio.money import from_nanos, to_nanos
from studio.records import Records
from studio.records.leases import Lease
from studio.work import LeaseLost

REFUSALS = 5
"""Refusals by the database in a row (others' charges landing meanwhile) before a call gives up."""


class Budget:
    def __init__(self, records: Records, lease: Lease, budget: int, spent: int, reserved: int) -> None:
        self.records = records
        self.lease = lease
        self.budget = budget
        self.spent = spent
        self.reserved = reserved
        self._changed = asyncio.Event()

    @classmethod
    async def load(cls, records: Records, lease: Lease) -> Budget:
        budget, spent, reserved = await records.ledger.budget(lease.id)
        return cls(records, lease, budget, spent, reserved)

    async def reserve(self, amount: Decimal, ref: str) -> None:
        """Reserve a call's most possible cost, marking `ref` started; waits while calls in flight may
        still free room. BudgetExceeded when what is spent leaves none; LeaseLost when the job was taken."""
        nanos = to_nanos(amount)
        for _ in range(REFUSALS):
            while self.spent + self.reserved + nanos > self.budget:
                if self.reserved <= 0 or self.spent + nanos > self.budget:
                    raise BudgetExceeded(
                        f"{ref}: reserving {amount} would exceed the job's budget "
                        f"of {from_nanos(self.budget)} ({from_nanos(self.spent)} spent)"
                    )
                self._changed.clear()
                await self._changed.wait()
            self.reserved += nanos
            if await self._confirm(amount, ref):
                return
        raise BudgetExceeded(f"{ref}: the records refused {REFUSALS} reservations of {amount} in a row")

    def reserve_if_room(self, amount: Decimal, ref: str, headroom: Decimal) -> asyncio.Future[bool] | None:
        """Reserve now, without waiting, only if `headroom` more stays free (room for the calls about to
        start); the future says whether the records confirmed it. None when there is not that much room."""
        nanos = to_nanos(amount)
        if self.spent + self.reserved + nanos + to_nanos(headroom) > self.budget:
            return None
        self.reserved += nanos
        return asyncio.ensure_future(self._confirm(amount, ref, urgent=False))

    async def _confirm(self, amount: Decimal, ref: str, *, urgent: bool = True) -> bool:
        """The records' word on a reservation already counted here; a refusal is taken back."""
        if await self.records.ledger.reserve(self.lease, amount, ref, urgent=urgent):
            return True
        self.reserved -= to_nanos(amount)
        self._changed.set()
        await self._refresh()
        return False

    async def reserve_paid(self, amount: Decimal) -> None:
        """Reserve for a call already paid for (an adopted prediction): it counts whatever the budget says."""
        self.reserved += to_nanos(amount)
        if not await self.records.ledger.reserve(self.lease, amount, within_budget=False):
            raise LeaseLost(self.lease.id)

    def settle(self, reserved: Decimal, spent: Decimal) -> None:
        """A call ended: its reservation is released and its cost spent (the charge was queued first)."""
        self.reserved -= to_nanos(reserved)
        self.spent += to_nanos(spent)
        self._changed.set()

    async def _refresh(self) -> None:
        """The database refused: the lease is gone, or others' charges (adopted calls) spent the room."""
        held, _ = await self.records.jobs.beat(self.lease, None)
        if not held:
            raise LeaseLost(self.lease.id)
        self.budget, self.spent, _ = await self.records.ledger.budget(self.lease.id)
