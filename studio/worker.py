"""Runs queued work (reference jobs, character consistency jobs) for `python -m studio worker` and the app.

Every kind of work is claimed through the records, so any number of runners, in the app or as workers,
share one queue and a crashed runner's work is picked up again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from studio import jobs
from studio.services import Services

log = logging.getLogger("studio.worker")

WorkStep = Callable[[Services], Awaitable[bool]]
"""Claims and runs one unit of work; returns whether there was any."""


async def run_next_reference_job(services: Services) -> bool:
    claimed = await asyncio.to_thread(jobs.claim, services)
    if claimed is None:
        return False
    try:
        await jobs.run_claimed(services, claimed)
    except Exception:
        log.exception("reference job %s failed unexpectedly", claimed.job_id)
    return True


def work_steps() -> list[WorkStep]:
    steps: list[WorkStep] = [run_next_reference_job]
    try:
        from studio.characters.jobs import run_next_character_job
    except ImportError:  # pragma: no cover - the characters package is always there once landed
        return steps
    steps.append(run_next_character_job)
    return steps


async def drain(services: Services, *, max_parallel: int = 2) -> int:
    """Run queued work until none is left; returns how many units ran."""
    done = 0
    while True:
        batch = [step(services) for step in work_steps() for _ in range(max_parallel)]
        ran = sum(await asyncio.gather(*batch))
        if not ran:
            return done
        done += ran


async def serve(services: Services, stop: asyncio.Event | threading.Event, poll_seconds: float = 0.5) -> None:
    """Poll for work until `stop` is set."""
    while not stop.is_set():
        try:
            ran = await drain(services)
        except Exception:
            log.exception("worker loop failed; continuing")
            ran = 0
        if not ran:
            await asyncio.sleep(poll_seconds)


class BackgroundRunner:
    """A daemon thread with its own event loop that runs queued work beside the Streamlit script runs."""

    def __init__(self, services: Services, poll_seconds: float = 0.5) -> None:
        self.services = services
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundRunner:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._main, name="studio-runner", daemon=True)
            self._thread.start()
        return self

    def _main(self) -> None:
        asyncio.run(serve(self.services, self._stop, self.poll_seconds))

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
