"""The one way the studio pays for an image, whatever the work (references, consistency images, looks).

Reserve the call's most possible cost, record the call before it goes out, predict (the prediction id is
recorded the moment the provider gives it), charge what the provider reports (failed and cancelled calls
included) and free the reservation. A process that takes the work over first adopts what earlier holders
paid for and never kept: by recorded id, else found at the provider by version, prompt and seed; a
prediction that succeeded but whose image was never stored is fetched again, not paid again. A cancel
starts nothing new, and the calls in flight are cancelled at the provider and charged what they cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from studio.costs.budget import Budget
from studio.errors import GenerationError
from studio.generation.base import GenerationRequest, Settled
from studio.generation.pace import Waited, paced
from studio.generation.retry import RetryListener, with_retries
from studio.money import to_nanos
from studio.records.database import Database, Op
from studio.records.ledger import LedgerEntry
from studio.records.paid_calls import (
    CallState,
    PaidCallRow,
    adopt_in,
    found_in,
    known_in,
    mark_in,
    release_in,
    reserve_in,
    settle_in,
    start_in,
    unfinished_in,
)
from studio.records.schema import as_utc, utcnow
from studio.records.work import WorkRow, is_held
from studio.work import LeaseLost
from studio.work.queue import Run

log = logging.getLogger("studio.costs")

FIND_SLACK = timedelta(seconds=60)
"""How long before a call was recorded its prediction may have been created (clock skew)."""


@dataclass(frozen=True)
class Account:
    """Whose ledger a unit of work's calls go to: a job's, or a song's (`stage`: generation, looks, ...)."""

    stage: str
    job_id: str | None = None
    song_id: str | None = None


@dataclass
class Purchase:
    """What one image's calls were: their records, how many, what they cost."""

    ref: str
    began: float = field(default_factory=time.perf_counter)
    """When the first call was about to be made (perf_counter): what the image took is counted from it."""
    calls: list[int] = field(default_factory=list)
    attempts: int = 0
    cost: Decimal = Decimal("0")
    prediction_ids: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """A slot's next call, recorded and its budget reserved while the slot's current call runs, so that it
    goes out the moment that one ends (its record is committed before it does, as every call's is)."""

    ref: str
    nanos: int
    recorded: asyncio.Future[int | None]
    """The call's id once recorded; None when the records refused it (no room, or the lease was lost)."""


@dataclass
class InFlight:
    """A call under way: what it asked for, since when, its record and its prediction id once known."""

    request: GenerationRequest
    since: datetime
    call_id: int
    prediction_id: str | None = None


class PaidCalls:
    """The paid calls of one claimed unit of work, charged to `account`."""

    def __init__(self, run: Run, account: Account) -> None:
        self.run = run
        self.services = run.services
        self.lease = run.lease
        self.account = account
        self.generator = run.services.generator
        self.budget = Budget(run.work.budget_nanos, run.work.spent_nanos)
        self.adoptable: dict[str, list[PaidCallRow]] = {}
        self.in_flight: dict[str, InFlight] = {}
        self.cancelling = run.cancel_requested
        self.waited = Waited()
        """How long calls waited for the provider's rate limit; a cancel wakes them (they start nothing)."""
        if self.cancelling:
            self.waited.woken.set()

    @property
    def db(self) -> Database:
        return self.services.records.db

    # taking over --------------------------------------------------------------------------------
    async def take_over(self, wanted: dict[str, GenerationRequest]) -> int:
        """Adopt the calls earlier holders of the work made and never kept, for the refs still `wanted`
        (found at the provider when their id was never recorded); how many. Adopted calls nothing uses are
        settled at the end of the run (`settle_leftovers`)."""
        calls = await self.db.query(lambda s: unfinished_in(s, self.lease.id))
        for call in calls:
            request = wanted.get(call.ref)
            for row in await self._adopt(call, request):
                if row.state == CallState.STARTED:  # not charged yet: it counts against the budget
                    await self._reserve_paid(to_nanos(self.generator.max_cost(request or _ANY)))
                self.adoptable.setdefault(call.ref, []).append(row)
        count = sum(len(rows) for rows in self.adoptable.values())
        if count:
            log.info(
                "%s %s: adopting %d paid call(s) of an earlier holder",
                self.lease.kind,
                self.lease.subject,
                count,
            )
        return count

    async def _reserve_paid(self, nanos: int) -> None:
        lease = self.lease
        await self.db.run(lambda s: reserve_in(s, lease, nanos, within_budget=False))
        self.budget.reserve_paid(nanos)

    async def _adopt(self, call: PaidCallRow, request: GenerationRequest | None) -> list[PaidCallRow]:
        """The calls to adopt for an earlier holder's call: itself when its id is known, else what is found
        at the provider for its request (none when it is no longer wanted: nothing to look for)."""
        lease = self.lease
        if call.prediction_id is not None:
            await self.db.run(lambda s: adopt_in(s, lease, call.id))
            return [call]
        if request is None:
            await self.db.run(lambda s: mark_in(s, [call.id], CallState.DROPPED))
            return []
        found = await self.generator.find(request, as_utc(call.started_at) - FIND_SLACK)
        return await self.db.run(lambda s: found_in(s, lease, call, found))

    # paying -------------------------------------------------------------------------------------
    async def image(
        self,
        purchase: Purchase,
        request: GenerationRequest,
        *,
        started: Op[object] | None = None,
        on_retry: RetryListener | None = None,
        prepared: Prepared | None = None,
    ) -> Settled:
        """The settled (charged) call that made the image of `purchase.ref`: an adopted one first, else new
        calls (the first one `prepared` ahead, when it was), with classified retries; `purchase` keeps what
        they were and cost. `started` is written when each new call goes out. GenerationError or
        BudgetExceeded when none succeeded; LeaseLost."""
        ref = purchase.ref
        ahead = [prepared] if prepared is not None else []

        async def attempt() -> Settled:
            purchase.attempts += 1
            adopted = self.adoptable.get(ref)
            if adopted:
                return await self._adopted(adopted.pop(0), request, purchase)
            if self.cancelling:
                raise GenerationError("cancelled before it started", retryable=False, reason="canceled")
            return await self._new(ref, request, purchase, started, ahead.pop() if ahead else None)

        try:
            return await with_retries(
                attempt,
                attempts=self.services.settings.retry_attempts + len(self.adoptable.get(ref, [])),
                backoff=self.services.settings.retry_backoff,
                on_retry=on_retry,
            )
        finally:
            for unused in ahead:  # the call never went out (an adopted one made the image, or a cancel)
                await self.discard(unused)

    def _start_op(self, ref: str, nanos: int, started: Op[object] | None) -> Op[int | None]:
        """Reserve a call's budget (for the lease, within the budget) and record it, in one transaction;
        its id, or None when refused."""
        lease, account, provider = self.lease, self.account, self.generator.name

        def start(s: Session) -> int | None:
            if nanos and not reserve_in(s, lease, nanos):
                return None
            if not nanos and not is_held(s, lease):
                return None
            call_id = start_in(s, lease, ref, provider, job_id=account.job_id, song_id=account.song_id)
            if started is not None:
                started(s)
            return call_id

        return start

    def prepare(self, ref: str, request: GenerationRequest, concurrency: int) -> Prepared | None:
        """Record a slot's next call and reserve its budget now, while the slot's current call runs; only
        when the budget keeps room for a whole round of calls beside it, and nothing was adopted for it."""
        nanos = to_nanos(self.generator.max_cost(request))
        if self.cancelling or ref in self.adoptable or not self.budget.room(nanos * (concurrency + 1)):
            return None
        self.budget.reserved += nanos
        recorded = asyncio.ensure_future(self.db.run(self._start_op(ref, nanos, None)))
        return Prepared(ref, nanos, recorded)

    async def discard(self, prepared: Prepared) -> None:
        """A prepared call that will not go out (the work is being cancelled or stopped): its reservation
        goes back and its record says nothing was made."""
        lease, nanos = self.lease, prepared.nanos
        with contextlib.suppress(Exception):
            call_id = await prepared.recorded
            if call_id is not None:

                def op(s: Session) -> None:
                    release_in(s, lease, nanos)
                    mark_in(s, [call_id], CallState.DROPPED)

                self.db.post(op)
        self.budget.settle(nanos, 0)

    async def _recorded(
        self, ref: str, nanos: int, started: Op[object] | None, prepared: Prepared | None
    ) -> int:
        """The id of a recorded call whose budget is reserved: the prepared one when the records accepted
        it (its `started` written now, in order), else one recorded now (waiting for room if need be)."""
        if prepared is not None and prepared.nanos == nanos:
            call_id = await prepared.recorded
            if call_id is not None:
                if started is not None:
                    self.db.post(started)
                return call_id
            self.budget.settle(nanos, 0)  # refused: the records know of less room (or the lease is gone)
        elif prepared is not None:
            await self.discard(prepared)
        return await self.budget.reserve(
            nanos, ref, lambda: self.db.run(self._start_op(ref, nanos, started)), self._reload
        )

    async def _new(
        self,
        ref: str,
        request: GenerationRequest,
        purchase: Purchase,
        started: Op[object] | None,
        prepared: Prepared | None = None,
    ) -> Settled:
        reserved = self.generator.max_cost(request)
        call_id = await self._recorded(ref, to_nanos(reserved), started, prepared)
        purchase.calls.append(call_id)
        flight = self.in_flight[ref] = InFlight(request, utcnow(), call_id)

        def on_prediction(prediction_id: str) -> None:
            flight.prediction_id = prediction_id
            self.db.post(lambda s: known_in(s, call_id, prediction_id))

        try:
            settled = await paced(
                lambda: self.generator.predict(request, on_prediction),
                self.generator.pace,
                deadline=time.monotonic() + self.services.settings.reference_gen_timeout,
                may_start=self._may_start,
                on_wait=self.waited.of(ref),
                woken=self.waited.woken,
            )
        except GenerationError as error:
            self._charge_failure(call_id, ref, reserved, error, purchase)
            raise
        finally:
            self.in_flight.pop(ref, None)
        self._charge(call_id, ref, reserved, settled, purchase)
        return settled

    def _may_start(self) -> None:
        if self.cancelling:
            raise GenerationError("cancelled before it started", retryable=False, reason="canceled")

    async def _adopted(self, call: PaidCallRow, request: GenerationRequest, purchase: Purchase) -> Settled:
        """A call an earlier holder made: wait for it as `predict` would, charge it (once) unless it was."""
        assert call.prediction_id is not None
        purchase.calls.append(call.id)
        reserved = self.generator.max_cost(request) if call.state == CallState.STARTED else Decimal(0)
        if self.cancelling:
            await self.generator.cancel(call.prediction_id)
        try:
            settled = await self.generator.adopt(call.prediction_id, request)
        except GenerationError as error:
            self._charge_failure(call.id, call.ref, reserved, error, purchase)
            raise
        self._charge(call.id, call.ref, reserved, settled, purchase)
        return settled

    def _charge(
        self, call_id: int, ref: str, reserved: Decimal, settled: Settled, purchase: Purchase
    ) -> None:
        entry = self._entry(
            ref, settled.cost, settled.units, settled.unit_price, settled.prediction_id, settled.model,
            settled.unit_name,
        )  # fmt: skip
        self._settle(call_id, entry, reserved, CallState.SETTLED, purchase)

    def _charge_failure(
        self, call_id: int, ref: str, reserved: Decimal, error: GenerationError, purchase: Purchase
    ) -> None:
        """A failed call: charged what the provider says it cost (when it made a prediction at all)."""
        if error.prediction_id or error.charged:
            entry = self._entry(ref, error.charged, error.units, None, error.prediction_id)
            self._settle(call_id, entry, reserved, CallState.DROPPED, purchase)
            return
        nanos = to_nanos(reserved)
        lease = self.lease

        def op(s: Session) -> None:
            release_in(s, lease, nanos)
            mark_in(s, [call_id], CallState.DROPPED)

        self.db.post(op)
        self.budget.settle(nanos, 0)

    def _settle(
        self, call_id: int, entry: LedgerEntry, reserved: Decimal, state: CallState, purchase: Purchase
    ) -> None:
        lease = self.lease
        self.db.post(lambda s: settle_in(s, lease, call_id, entry, reserved, state))
        self.budget.settle(to_nanos(reserved), to_nanos(entry.amount))
        purchase.cost += entry.amount
        if entry.prediction_id:
            purchase.prediction_ids.append(entry.prediction_id)

    def _entry(
        self,
        ref: str,
        amount: Decimal,
        units: Decimal,
        unit_price: Decimal | None,
        prediction_id: str | None,
        model: str | None = None,
        unit_name: str | None = None,
    ) -> LedgerEntry:
        return LedgerEntry(
            stage=self.account.stage,
            provider=self.generator.name,
            model=model or self.generator.model_version,
            amount=amount,
            job_id=self.account.job_id,
            song_id=self.account.song_id,
            ref=ref,
            units=units,
            unit_name=unit_name or ("second" if units else "image"),
            unit_price=unit_price if unit_price is not None else (amount / units if units else Decimal(0)),
            prediction_id=prediction_id,
            work_id=self.lease.id,
        )

    async def _reload(self) -> tuple[int, int]:
        """The database refused a reservation: the lease is gone (LeaseLost), or others' charges took room."""
        lease = self.lease

        def op(s: Session) -> WorkRow | None:
            return s.get(WorkRow, lease.id, populate_existing=True) if is_held(s, lease) else None

        work = await self.db.query(op)
        if work is None:
            raise LeaseLost(lease.id)
        return work.budget_nanos, work.spent_nanos

    def dropped(self, purchase: Purchase) -> Op[None]:
        """An op marking a purchase's calls as having nothing to keep (their image could not be fetched)."""
        calls = list(purchase.calls)
        return lambda s: mark_in(s, calls, CallState.DROPPED)

    # cancelling and the end ---------------------------------------------------------------------
    async def cancel_in_flight(self) -> None:
        """Start nothing new; ask the provider to stop the calls in flight (found when their id is not known
        yet), so each ends cancelled and is charged what it cost."""
        self.cancelling = True
        self.waited.woken.set()
        for ref, flight in list(self.in_flight.items()):
            ids = [flight.prediction_id] if flight.prediction_id else []
            if not ids:
                try:
                    ids = await self.generator.find(flight.request, flight.since - FIND_SLACK)
                except GenerationError:
                    log.warning("could not look up the call in flight for %s", ref)
            for prediction_id in ids:
                await self.generator.cancel(prediction_id)

    async def settle_leftovers(self, requests: dict[str, GenerationRequest]) -> None:
        """Adopted calls nothing used (a ref that got its image from another, or that left the plan): wait
        for each to end (cancelled first when the work is being cancelled), charge it, drop it."""
        for ref, calls in list(self.adoptable.items()):
            while calls:
                call = calls.pop(0)
                purchase = Purchase(ref)
                if call.prediction_id is None:
                    continue
                with contextlib.suppress(GenerationError):
                    await self._adopted(call, requests.get(ref, _ANY), purchase)
                self.db.post(self.dropped(purchase))

    async def flushed(self) -> None:
        """Wait until every write queued so far (charges, prediction ids) is committed."""
        await self.db.run(lambda _s: None)


_ANY = GenerationRequest(prompt="", negative_prompt="", seed=0, kind="scene", subject="")
"""A request for what only needs the generator's price (a call whose request is no longer known)."""

__all__ = ["Account", "InFlight", "PaidCalls", "Purchase", "asyncio"]
