"""Running queued consistency jobs: one step of the worker's loop, and "run it now" (`character generate`).

Jobs live in the `character_jobs` table and are claimed under a lease (studio.records.leases) that a heartbeat
renews; a job whose worker died stays `running` until the lease expires, then the next claim takes it over.
A job claimed `MAX_ATTEMPTS` times without finishing is failed instead of retried forever.
"""

from __future__ import annotations

import asyncio
import logging

from studio.characters.consistency import ConsistencyResult, run_consistency_job
from studio.errors import NotFound
from studio.records.leases import Lease
from studio.records.songs import CharacterJobRow
from studio.services import Services
from studio.storage.keys import check_id
from studio.work import process_owner

log = logging.getLogger("studio.characters")

MAX_ATTEMPTS = 3


async def _run_claimed(services: Services, lease: Lease, job: CharacterJobRow) -> ConsistencyResult:
    if job.attempts > MAX_ATTEMPTS:
        reason = f"gave up after {MAX_ATTEMPTS} attempts: the worker stopped mid-job each time"
        await asyncio.to_thread(services.records.songs.finish, lease, "failed", error=reason)
        return ConsistencyResult(
            job_id=job.id, song_id=job.song_id, status="failed", reason=reason, attempts=job.attempts
        )
    return await run_consistency_job(services, lease, job)


async def run_next(services: Services) -> ConsistencyResult | None:
    """Claim and run the oldest runnable job; None when the queue is empty."""
    claimed = await asyncio.to_thread(
        services.records.songs.claim, process_owner(), services.settings.lease_seconds
    )
    if claimed is None:
        return None
    lease, job = claimed
    log.info("Running consistency job %s for song %s (attempt %d)", job.id, job.song_id, job.attempts)
    return await _run_claimed(services, lease, job)


async def run_pending(services: Services) -> list[ConsistencyResult]:
    """Run jobs until none is runnable."""
    results: list[ConsistencyResult] = []
    while (result := await run_next(services)) is not None:
        results.append(result)
    return results


async def generate_now(services: Services, song_id: str) -> ConsistencyResult:
    """Run the song's consistency job in the foreground (`character generate`).

    Takes the song's queued job when there is one; otherwise queues a fresh job, superseding any other open
    one (a run in another worker loses its lease), and runs that.
    """
    check_id("song_id", song_id)
    songs = services.records.songs
    owner, seconds = process_owner(), services.settings.lease_seconds
    claimed = await asyncio.to_thread(songs.claim, owner, seconds, song_id=song_id)
    if claimed is None or claimed[1].attempts > MAX_ATTEMPTS:
        fresh = await asyncio.to_thread(
            songs.requeue, song_id, "replaced by a foreground run (character generate)"
        )
        claimed = await asyncio.to_thread(songs.claim, owner, seconds, job_id=fresh)
        if claimed is None:
            raise NotFound(f"consistency job {fresh} of song {song_id!r} was taken by another worker")
    return await run_consistency_job(services, *claimed)
