"""Running queued consistency jobs: one step of the worker loop, draining the queue, and "run it now".

Jobs live in the `character_jobs` table. A worker claims one with a lease it renews while it works; a job
whose worker died keeps status `running` until the lease expires, then the next claim picks it up again.
A job that has been claimed `MAX_ATTEMPTS` times without finishing is failed instead of retried forever.
`studio.worker` (the `worker` command, the app's BackgroundRunner) runs them through `run_next_character_job`.
"""

from __future__ import annotations

import asyncio
import logging

from studio.characters.consistency import ConsistencyResult, run_consistency_job
from studio.errors import NotFound
from studio.keys import check_id
from studio.records.songs import CharacterJobRow, SongRecords
from studio.services import Services

log = logging.getLogger("studio.characters")

LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 3


async def _run_claimed(services: Services, job: CharacterJobRow, lease_seconds: float) -> ConsistencyResult:
    if job.attempts > MAX_ATTEMPTS:
        reason = f"gave up after {MAX_ATTEMPTS} attempts: the worker stopped mid-job each time"
        SongRecords(services.records).finish(job.id, job.claim_token or "", "failed", error=reason)
        return ConsistencyResult(
            job_id=job.id, song_id=job.song_id, status="failed", reason=reason, attempts=job.attempts
        )
    return await run_consistency_job(services, job, lease_seconds)


async def run_next(services: Services, *, lease_seconds: float = LEASE_SECONDS) -> ConsistencyResult | None:
    """Claim and run the oldest runnable job; None when the queue is empty."""
    job = await asyncio.to_thread(SongRecords(services.records).claim, lease_seconds)
    if job is None:
        return None
    log.info("Running consistency job %s for song %s (attempt %d)", job.id, job.song_id, job.attempts)
    return await _run_claimed(services, job, lease_seconds)


async def run_next_character_job(services: Services) -> bool:
    """One step of `studio.worker`'s loop (the `worker` command and the app's BackgroundRunner)."""
    return await run_next(services) is not None


async def run_pending(services: Services, *, lease_seconds: float = LEASE_SECONDS) -> list[ConsistencyResult]:
    """Run jobs until none is runnable (`worker --once`)."""
    results: list[ConsistencyResult] = []
    while (result := await run_next(services, lease_seconds=lease_seconds)) is not None:
        results.append(result)
    return results


async def generate_now(
    services: Services, song_id: str, *, lease_seconds: float = LEASE_SECONDS
) -> ConsistencyResult:
    """Run the song's consistency job in the foreground (`character generate`).

    Takes the song's queued job when there is one; otherwise queues a fresh job, superseding any other open
    one (a run in another worker loses its claim), and runs that.
    """
    check_id("song_id", song_id)
    store = SongRecords(services.records)
    job = store.claim(lease_seconds, song_id=song_id)
    if job is None or job.attempts > MAX_ATTEMPTS:
        with store.session() as s:
            store.supersede_in(s, song_id, "replaced by a foreground run (character generate)")
            fresh = store.enqueue_in(s, song_id)
        job = store.claim(lease_seconds, job_id=fresh.id)
        if job is None:
            raise NotFound(f"consistency job {fresh.id} of song {song_id!r} was taken by another worker")
    return await run_consistency_job(services, job, lease_seconds)
