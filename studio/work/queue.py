"""Running work from the queue: handlers by kind, one claimed unit run under its heartbeat, the next unit for
a worker, and run-now-or-follow for the CLI and the app.

A handler runs one claimed unit to its end and records how it ended in its last transaction (its work done,
its subject's outcome). Around it, the queue keeps the lease alive, gives up on work claimed too many times,
fails work whose handler crashed, and hands work back to the queue when this process must stop or when the
database or storage failed for longer than they are waited for: nothing that could still be made is failed,
and nothing paid for is lost (the next holder adopts it).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from studio.errors import NotFound, StudioError, Unavailable
from studio.records.work import OPEN, Claimed, Lease, WorkKind, WorkRow, WorkStatus
from studio.work import Heartbeat, LeaseLost, follow, process_owner

if TYPE_CHECKING:
    from studio.services import Services

log = logging.getLogger("studio.work")

HANDLER_MODULES = ("studio.references.run", "studio.characters.consistency", "studio.characters.look_rounds")
"""Modules that register a handler (`@handles(kind)`) when imported."""
MAX_ROUNDS = 5
"""Follow-then-claim rounds before a caller gives up on work others keep changing."""
FOLLOW_POLL_SECONDS = 0.25


class Ended(StrEnum):
    """How this process's run of a claimed unit ended."""

    DONE = "done"
    """The handler ran it to its end (its subject says how that went)."""
    FAILED = "failed"
    LOST = "lost"
    """Taken over or superseded meanwhile: whoever holds it now ends it."""
    HANDED_BACK = "handed back"
    """Back in the queue: this process was stopped."""


@dataclass
class Run:
    """A claimed unit of work as its handler sees it."""

    services: Services
    lease: Lease
    work: WorkRow
    """The work row as claimed (its budget, spending and cancel request then)."""
    heartbeat: Heartbeat
    stop: asyncio.Event | None = None
    """Set when this process must stop: a handler hands the work back, or finishes it when that is quicker."""
    on_event: Callable[[Any], None] | None = None
    """The caller's handler of progress events (reference jobs emit them)."""

    @property
    def cancel_requested(self) -> bool:
        return self.work.cancel_requested or self.heartbeat.cancelled.is_set()


Handle = Callable[[Run], Awaitable[Ended]]
Fail = Callable[["Services", Lease, str], Awaitable[bool]]


@dataclass(frozen=True)
class Handler:
    run: Handle
    fail: Fail
    """Records that the work could not be run (`reason`), with its subject's outcome, in one transaction."""


_HANDLERS: dict[WorkKind, Handler] = {}


def handles(kind: WorkKind, *, fail: Fail | None = None) -> Callable[[Handle], Handle]:
    """Register the handler of a kind of work (and how its subject records a failure)."""

    def register(run: Handle) -> Handle:
        _HANDLERS[kind] = Handler(run, fail or fail_work)
        return run

    return register


def handler_for(kind: WorkKind) -> Handler:
    if kind not in _HANDLERS:
        for name in HANDLER_MODULES:
            importlib.import_module(name)
    return _HANDLERS[kind]


async def fail_work(services: Services, lease: Lease, reason: str) -> bool:
    return await services.records.work.finish(lease, WorkStatus.FAILED, reason)


class Interrupted(StudioError):
    """The run stopped because the database or storage failed for longer than it is waited for; the work
    went back to the queue (or goes back when its lease runs out)."""

    def __init__(self, cause: Unavailable) -> None:
        super().__init__(f"{cause.what}; the work went back to the queue: {cause.fix}, then run it again")
        self.cause = cause


async def run_claimed(
    services: Services,
    claimed: Claimed,
    *,
    stop: asyncio.Event | None = None,
    on_event: Callable[[Any], None] | None = None,
) -> Ended:
    """Run a claimed unit to its end under a heartbeat. Interrupted when the database or storage failed."""
    lease, work = claimed.lease, claimed.work
    handler = handler_for(lease.kind)
    if lease.taken_over_from:
        log.warning(
            "%s %s: taking over from %s, whose lease expired",
            lease.kind,
            lease.subject,
            lease.taken_over_from,
        )
    if work.attempts > work.max_attempts:
        reason = f"gave up after {work.max_attempts} attempts: the process running it stopped each time"
        await handler.fail(services, lease, reason)
        return Ended.FAILED
    seconds = services.settings.lease_seconds
    heartbeat = Heartbeat(
        lambda renew: services.records.work.renew(lease, seconds if renew else None), seconds
    )
    try:
        async with heartbeat:
            return await handler.run(Run(services, lease, work, heartbeat, stop, on_event))
    except LeaseLost:
        return Ended.LOST
    except Unavailable as error:
        log.warning("%s %s stopped: %s", lease.kind, lease.subject, error.what)
        await _hand_back(services, lease)
        raise Interrupted(error) from error
    except Exception:
        log.exception("%s %s failed unexpectedly", lease.kind, lease.subject)
        await handler.fail(services, lease, "unexpected_error")
        return Ended.FAILED


async def _hand_back(services: Services, lease: Lease) -> None:
    """Give the work back (when the database answers); else its lease runs out and the next claim takes it."""
    try:
        await services.records.work.hand_back(lease)
    except Unavailable:
        log.warning(
            "could not hand %s %s back; it is taken over when its lease runs out", lease.kind, lease.subject
        )


async def run_next(
    services: Services, stop: asyncio.Event | None = None, kinds: tuple[WorkKind, ...] = ()
) -> Ended | None:
    """Claim the oldest claimable unit (of `kinds`, or any) and run it: a worker's step. None when there is
    none."""
    claimed = await services.records.work.claim(process_owner(), services.settings.lease_seconds, kinds=kinds)
    if claimed is None:
        return None
    return await run_claimed(services, claimed, stop=stop)


@dataclass(frozen=True)
class Outcome:
    """How run-now-or-follow ended: the work as it is now, and who ran it."""

    work: WorkRow
    ran: bool = False
    """This process ran it (else another did, and this one followed)."""
    interrupted: bool = False
    """`stop` was set: the work went back to the queue, or another process still has it."""
    ended: Ended | None = field(default=None)


async def run_or_follow(
    services: Services,
    work_id: str,
    *,
    stop: asyncio.Event | None = None,
    on_event: Callable[[Any], None] | None = None,
    on_poll: Callable[[WorkRow], Awaitable[None]] | None = None,
) -> Outcome:
    """Run the work here, or follow the process that holds it (`on_poll` sees each read) until it ends;
    when the holder stops renewing its lease, take it over. The work ends (or `stop` is set) within
    `MAX_ROUNDS` rounds, else StudioError."""
    records = services.records
    owner, seconds = process_owner(), services.settings.lease_seconds
    followed = False
    for _ in range(MAX_ROUNDS):
        claimed = await records.work.claim(owner, seconds, work_id=work_id)
        if claimed is not None:
            ended = await run_claimed(services, claimed, stop=stop, on_event=on_event)
            if ended is Ended.LOST:
                continue
            current = await records.work.aget(work_id)
            assert current is not None
            return Outcome(current, ran=True, interrupted=ended is Ended.HANDED_BACK, ended=ended)
        if not followed:
            holder = await records.work.aget(work_id)
            if holder is not None and holder.status in OPEN:
                log.info(
                    "%s %s is being run by %s; following it", holder.kind, holder.subject, holder.lease_owner
                )
        followed = True
        found = await _until_stopped(
            follow(lambda: records.work.aget(work_id), poll_seconds=FOLLOW_POLL_SECONDS, on_poll=on_poll),
            stop,
        )
        if found is _STOPPED:
            current = await records.work.aget(work_id)
            assert current is not None
            return Outcome(current, interrupted=True)
        if found is None:
            raise NotFound(f"work {work_id} was deleted while it ran")
        if found.status not in OPEN:
            return Outcome(found)
    raise StudioError(f"work {work_id} keeps being changed by other processes; try again later")


_STOPPED: Any = object()


async def _until_stopped(work: Awaitable[Any], stop: asyncio.Event | None) -> Any:
    """`work`'s result, or _STOPPED when `stop` is set first (the work is then cancelled)."""
    task = asyncio.ensure_future(work)
    if stop is None:
        return await task
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return _STOPPED
