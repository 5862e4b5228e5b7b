"""How studio processes share background work: a lease held by a heartbeat, and following another's work.

Every kind of work is a row of the one work queue (studio.records.work). A process claims it under a lease
and keeps it alive with a `Heartbeat`; liveness is only ever the lease's expiry, never one host's process
table. Another process that wants the same work `follow`s it until it ends, or takes it over once the lease
has expired (studio.work.queue). Every wait here has a bound and ends with a stated outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from studio.errors import Unavailable
from studio.records.work import WorkRow, live

log = logging.getLogger("studio.work")

_owner: tuple[int, str] | None = None
T = TypeVar("T")


def process_owner() -> str:
    """This process as a lease owner, `host:pid:token`: a label for people (liveness is the expiry)."""
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:
        _owner = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return _owner[1]


class LeaseLost(Exception):
    """The lease expired and another process claimed the work, or the work was superseded: this process must
    stop changing it."""


Beat = Callable[[bool], Awaitable[tuple[bool, bool]]]
"""Renews the lease when told to (`True`), else only reads it: (still held, cancel requested)."""


class Heartbeat:
    """Renews a lease every third of its length and reads it a few times a second: `lost` is set once it is
    not held any more, `cancelled` once a cancel was asked for."""

    def __init__(self, beat: Beat, lease_seconds: float, poll_seconds: float = 0.5) -> None:
        self._beat = beat
        self.lease_seconds = lease_seconds
        self.poll_seconds = min(poll_seconds, lease_seconds / 6)
        self.lost = asyncio.Event()
        self.cancelled = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def hold(self, work: Awaitable[T]) -> T:
        """Run `work` while the lease is held: its result, or LeaseLost (and `work` cancelled) when the lease
        is lost first."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise LeaseLost
        return task.result()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        while True:
            await asyncio.sleep(self.poll_seconds)
            renew = loop.time() - renewed >= self.lease_seconds / 3
            try:
                held, cancel = await self._beat(renew)
            except Unavailable as error:  # the database is away (and was waited for): try again next time
                log.warning("could not renew a lease: %s", error.what)
                continue
            if renew:
                renewed = loop.time()
            if not held:
                self.lost.set()
                return
            if cancel:
                self.cancelled.set()


async def follow(
    read: Callable[[], Awaitable[WorkRow | None]],
    *,
    poll_seconds: float = 0.25,
    on_poll: Callable[[WorkRow], Awaitable[None]] | None = None,
) -> WorkRow | None:
    """Wait while another process works on a unit of work: until it ended, or until its lease is no longer
    live (its holder stopped renewing it: the caller may claim it now). None when it disappeared."""
    while True:
        work = await read()
        if work is None:
            return None
        if on_poll is not None:
            await on_poll(work)
        if not live(work):
            return work
        await asyncio.sleep(poll_seconds)
