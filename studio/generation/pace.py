"""A provider's rate limit as flow control: one pace per account, and calls that wait out a 429.

A `Pace` gives each call its moment from the account's row in the records (studio.records.paces), so every
process sharing the records database shares one pace; before the records are open (an interrogator built on
its own) it only remembers this process's holds. `paced` runs one call under a pace: it waits for its moment,
and a 429 (Retry-After, else the "resets in ~Ns" of the answer, with jitter) holds the whole account and
tries again, without using up a retry, until the call's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from studio.errors import GenerationError
from studio.records.database import Database
from studio.records.paces import PaceState, hold_in, state_in, take_in

T = TypeVar("T")

JITTER = 0.1
"""A hold is the provider's reset plus up to this share of it, so that callers do not all return at once."""
UNSAID_HOLD_SECONDS = 10.0
"""How long a 429 that says nothing of its reset holds the account."""
NOTICE_SECONDS = 0.5
"""A wait at least this long is worth telling the creator about."""
SAFETY = 0.95
"""The share of the configured rate the pace goes at: calls leave at their moments but reach the provider a
little early or late, and a provider counting them in a sliding window sees the late ones bunch up."""

WaitListener = Callable[[float], None]
"""Told the seconds a call is about to wait for the provider's rate limit."""


def account_key(provider: str, secret: str | None) -> str:
    """`provider:<digest>`: which account of the provider, without the secret."""
    digest = hashlib.sha256((secret or "").encode()).hexdigest()[:16]
    return f"{provider}:{digest}"


class Pace:
    """The pace of one provider account: below `per_minute` calls a minute (SAFETY), slower after a 429."""

    def __init__(self, account: str, per_minute: float, setting: str) -> None:
        self.account = account
        self.per_minute = per_minute * SAFETY
        self.setting = setting
        """The variable that sets `per_minute` (REPLICATE_CREATES_PER_MINUTE), for messages."""
        self.db: Database | None = None
        self._held_until = 0.0

    def share(self, db: Database) -> None:
        """From now on the pace is the records' (shared with every process using them)."""
        self.db = db

    async def moment(self) -> float:
        """Seconds until this caller's call may go (its moment is reserved for it)."""
        now = time.time()
        if self.db is None:
            return max(0.0, self._held_until - now)
        account, ceiling = self.account, self.per_minute
        moment = await self.db.run_beside(lambda s: take_in(s, account, ceiling, time.time()))
        return max(0.0, moment - time.time())

    async def hold(self, seconds: float) -> None:
        """The provider answered 429: nobody calls for `seconds`, and the pace slows."""
        self._held_until = max(self._held_until, time.time() + seconds)
        if self.db is not None:
            account, ceiling = self.account, self.per_minute
            await self.db.run_beside(lambda s: hold_in(s, account, ceiling, time.time(), seconds))

    async def state(self) -> PaceState:
        """The pace in use now (the configured one before any call was paced)."""
        found = None
        if self.db is not None:
            account, ceiling = self.account, self.per_minute
            found = await self.db.query(lambda s: state_in(s, account, ceiling, time.time()))
        return found or PaceState(self.account, self.per_minute, 0.0, self._held_until, 0)


@dataclass
class Waited:
    """How long a unit of work's calls waited for a provider's rate limit (the union of the waits: calls
    waiting side by side count once); `told` hears of each wait that goes on past the others; `woken` (a
    cancel) ends every wait at once."""

    seconds: float = 0.0
    until: float = 0.0
    """time.monotonic() when the latest wait ends."""
    told: Callable[[str, float], object] | None = None
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, wait: float) -> bool:
        """Count a wait starting now; True when it goes on past the waits known so far by NOTICE_SECONDS."""
        now = time.monotonic()
        end = now + wait
        self.seconds += max(0.0, end - max(now, self.until))
        noticed = end >= max(self.until, now) + NOTICE_SECONDS
        self.until = max(self.until, end)
        return noticed

    def of(self, ref: str) -> WaitListener:
        """The listener of `ref`'s waits: counted, and told when they are news."""

        def waiting(seconds: float) -> None:
            if self.add(seconds) and self.told is not None:
                self.told(ref, seconds)

        return waiting


def hold_seconds(error: GenerationError) -> float:
    """How long a 429 holds the account: what the provider said, plus jitter."""
    said = error.retry_after if error.retry_after is not None else UNSAID_HOLD_SECONDS
    return said * (1 + random.uniform(0, JITTER))


async def paced(
    call: Callable[[], Awaitable[T]],
    pace: Pace | None,
    *,
    deadline: float,
    may_start: Callable[[], None] | None = None,
    on_wait: WaitListener | None = None,
    woken: asyncio.Event | None = None,
) -> T:
    """Run `call` at its moment under `pace`; a 429 (GenerationError `rate_limited`) holds the account and
    the call tries again, until `deadline` (time.monotonic()). `woken` ends a wait early; `may_start` then
    raises when the call must not go after all (its work was cancelled while it waited)."""
    held = 0.0
    while True:
        wait = await pace.moment() if pace is not None else held
        if wait > 0:
            if time.monotonic() + wait > deadline:
                setting = f" (its pace is set by {pace.setting})" if pace is not None else ""
                raise GenerationError(
                    f"the provider's rate limit held this call past its deadline{setting}",
                    retryable=False,
                    reason="rate_limited",
                )
            if on_wait is not None:
                on_wait(wait)
            if woken is None:
                await asyncio.sleep(wait)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), wait)
        if may_start is not None:
            may_start()
        try:
            return await call()
        except GenerationError as error:
            if error.reason != "rate_limited":
                raise
            held = hold_seconds(error)
            if pace is not None:
                await pace.hold(held)
