"""A unit of work's budget as its lease holder sees it: reservations wait in process, the database decides.

Only the lease holder reserves for its work, so the in-process view is exact, and a call waits on the calls in
flight (a condition, not a polling loop). The conditional UPDATE in the database is still the authority: a
process whose lease was taken over is refused, and so is a reservation the ledger has no room for (another
process's charges of adopted calls landed meanwhile): the view is then read again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from studio.errors import BudgetExceeded
from studio.money import from_nanos

T = TypeVar("T")

REFUSALS = 5
"""Refusals by the database in a row before a call gives up."""


class Budget:
    def __init__(self, budget: int, spent: int) -> None:
        self.budget = budget
        self.spent = spent
        self.reserved = 0
        self._changed = asyncio.Event()

    async def reserve(
        self,
        nanos: int,
        ref: str,
        commit: Callable[[], Awaitable[T | None]],
        reload: Callable[[], Awaitable[tuple[int, int]]],
    ) -> T:
        """Reserve a call's most possible cost: wait while calls in flight may still free room, then `commit`
        (the database's reservation; None when it refused, and `reload` then gives (budget, spent) again).
        BudgetExceeded when what is spent leaves no room."""
        for _ in range(REFUSALS):
            while self.spent + self.reserved + nanos > self.budget:
                if self.reserved <= 0 or self.spent + nanos > self.budget:
                    raise BudgetExceeded(
                        f"{ref}: reserving {from_nanos(nanos)} would exceed the budget of "
                        f"{from_nanos(self.budget)} ({from_nanos(self.spent)} spent)"
                    )
                self._changed.clear()
                await self._changed.wait()
            self.reserved += nanos
            committed = await commit()
            if committed is not None:
                return committed
            self.reserved -= nanos
            self.budget, self.spent = await reload()
            self._changed.set()
        raise BudgetExceeded(f"{ref}: the records refused {REFUSALS} reservations in a row")

    def room(self, nanos: int) -> bool:
        """Whether `nanos` more fit beside what is spent and reserved."""
        return self.spent + self.reserved + nanos <= self.budget

    def reserve_paid(self, nanos: int) -> None:
        """A call already paid for (an adopted prediction) counts whatever the budget says."""
        self.reserved += nanos

    def settle(self, reserved: int, spent: int) -> None:
        """A call ended: its reservation is released and its cost spent."""
        self.reserved -= reserved
        self.spent += spent
        self._changed.set()
