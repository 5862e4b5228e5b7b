"""Runs queued work (reference jobs, consistency jobs, rounds of looks) for `python -m studio worker` and the
app's runner.

Each lane claims the oldest claimable unit of any kind and runs it, until none is left. `stop` ends the
lanes: a reference job in hand is handed back to the queue at once (its calls in flight are adopted by
whoever claims it next), a consistency job (one image) or a round of looks (at most eight) finishes. A
database or storage that is away stops the unit in hand (it goes back to the queue) and is said in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from studio.errors import Unavailable
from studio.records.schema import utcnow
from studio.services import Services
from studio.work.queue import Ended, run_next

log = logging.getLogger("studio.work")


async def _step(services: Services, stop: asyncio.Event) -> Ended | None:
    """Claim and run one unit of work; None when there was none or the database or storage is away (said
    once, in a line: the work in hand went back to the queue)."""
    try:
        return await run_next(services, stop)
    except Unavailable as error:
        log.warning("worker: %s; trying again shortly", error.what)
        await asyncio.sleep(1.0)
        return None


async def drain(services: Services, *, max_parallel: int = 2, stop: asyncio.Event | None = None) -> int:
    """Run queued work in `max_parallel` lanes until none is left (or `stop` is set); how many units ran."""
    stop = stop or asyncio.Event()
    ran = 0

    async def lane() -> None:
        nonlocal ran
        while not stop.is_set():
            if await _step(services, stop) is None:
                return
            ran += 1

    await asyncio.gather(*(lane() for _ in range(max_parallel)))
    return ran


async def drain_all(services: Services, stop: asyncio.Event, poll_seconds: float = 0.5) -> int:
    """`drain`, then wait while work runs elsewhere: whatever its holder does not finish (it crashed and its
    lease runs out) is taken over. Ends when nothing is queued or running, or at `stop`."""
    ran = await drain(services, stop=stop)
    while not stop.is_set():
        until = await asyncio.to_thread(services.records.work.running_until)
        if until is None:
            break
        wait = min(poll_seconds, max(0.05, (until - utcnow()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        ran += await drain(services, stop=stop)
    return ran


async def serve(services: Services, stop: asyncio.Event, poll_seconds: float = 0.5) -> None:
    """Run work as it is queued until `stop` is set; an empty queue is polled every `poll_seconds`."""
    while not stop.is_set():
        if not await drain(services, stop=stop):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)


class BackgroundRunner:
    """A daemon thread with its own event loop that runs queued work beside the Streamlit script runs."""

    def __init__(self, services: Services, poll_seconds: float = 0.5) -> None:
        self.services = services
        self.poll_seconds = poll_seconds
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> BackgroundRunner:
        if self._thread is None or not self._thread.is_alive():
            self._ready.clear()
            self._thread = threading.Thread(target=self._main, name="studio-runner", daemon=True)
            self._thread.start()
            self._ready.wait(10)
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            try:
                await serve(self.services, self._stop, self.poll_seconds)
            finally:
                await self.services.aclose()

        asyncio.run(main())

    def stop(self, timeout: float = 10) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
