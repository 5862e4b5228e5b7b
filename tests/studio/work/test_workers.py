"""`python -m studio worker` processes sharing one queue: one SIGKILLed mid-job, one stopped by SIGTERM.

Workers are real processes driving the real Replicate client against the project's Replicate-compatible
server; the suite runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import pytest

from benchmarks.plans import synthetic_plan
from studio.references import jobs
from studio.services import Services
from tests.servers.replicate import ReplicateServer
from tests.studio.processes import (
    Processes,
    assert_each_image_paid_once_and_ledgered,
    kill,
    processes,
    stored,
    wait_for,
)

__all__ = ["processes"]


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer(latency=0.3, output_scale=1 / 32) as running:
        yield running


def queue_jobs(studio: Services, count: int, size: int) -> list[str]:
    return [
        jobs.submit(studio, synthetic_plan(size, seed=100 + n), duration_seconds=60, concurrency=4)
        for n in range(count)
    ]


def finished(studio: Services, job_ids: list[str]) -> bool:
    return all(
        (job := studio.records.jobs.get(job_id)) is not None and job.status in jobs.FINISHED
        for job_id in job_ids
    )


def test_two_workers_one_killed_every_job_completed_once(
    studio: Services,
    server: ReplicateServer,
    environment: dict[str, str],
    processes: Callable[[dict[str, str]], Processes],
) -> None:
    job_ids = queue_jobs(studio, 6, 24)
    group = processes(environment)

    def holding(process: object, at_least: int) -> bool:
        for job_id in job_ids:
            job = studio.records.jobs.get(job_id)
            owner = job.lease_owner if job is not None and job.status == "running" else None
            if owner and owner.split(":")[1] == str(process.pid) and stored(studio, job_id) >= at_least:  # type: ignore[attr-defined]
                return True
        return False

    doomed = group.start("worker", "--poll", "0.1")
    wait_for(lambda: holding(doomed, 1), what="the first worker to be mid-job")
    survivor = group.start("worker", "--poll", "0.1")
    wait_for(lambda: holding(survivor, 0) and holding(doomed, 3), what="both workers to be mid-job")
    kill(doomed)
    wait_for(lambda: finished(studio, job_ids), timeout=90, what="every job to finish")
    survivor.send_signal(signal.SIGTERM)
    _, err = survivor.communicate(timeout=30)
    assert survivor.returncode == 0, err
    for job_id in job_ids:
        job = studio.records.jobs.get(job_id)
        assert job is not None and job.status == "success", (job_id, job and job.status)
        completions = [
            e
            for e in studio.records.events.after(job_id)
            if e.type == "stage_update" and '"completed"' in e.payload_json
        ]
        assert len(completions) == 1, "each job finished exactly once"
    taken_over = [
        job_id for job_id in job_ids if (job := studio.records.jobs.get(job_id)) and job.lease_epoch > 1
    ]
    assert len(taken_over) >= 1, "the killed worker's job was taken over"
    assert_each_image_paid_once_and_ledgered(studio, server, *job_ids)


def test_sigterm_hands_the_job_back_and_another_worker_finishes_it_without_paying_twice(
    studio: Services,
    server: ReplicateServer,
    environment: dict[str, str],
    processes: Callable[[dict[str, str]], Processes],
) -> None:
    (job_id,) = queue_jobs(studio, 1, 32)
    group = processes(environment)
    first = group.start("worker", "--poll", "0.1")
    wait_for(lambda: stored(studio, job_id) >= 8, what="8 stored references")
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=15)
    assert first.returncode == 0, err
    job = studio.records.jobs.get(job_id)
    assert job is not None and job.status == "queued" and job.lease_owner is None, "handed back at once"
    second = group.start("worker", "--once")
    _, err = second.communicate(timeout=90)
    assert second.returncode == 0, err
    job = studio.records.jobs.get(job_id)
    assert job is not None and job.status == "success" and stored(studio, job_id) == 32
    assert_each_image_paid_once_and_ledgered(studio, server, job_id)
