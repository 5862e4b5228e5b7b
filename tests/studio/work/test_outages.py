"""A records database that is away for a while (PostgreSQL stopped while a `worker` runs a job, SQLite
locked by another process while `generate` runs): the run waits, fails no reference that could still be
made, and says so in a line (on the CLI's stderr, in the worker's log), never with a traceback."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.plans import synthetic_plan
from studio.references import jobs
from tests.servers.postgres import PostgresServer, postgres_bin
from tests.servers.replicate import ReplicateServer
from tests.studio.processes import (
    Processes,
    assert_each_image_paid_once_and_ledgered,
    environment_for,
    processes,
    services_for,
    stored,
    wait_for,
)

__all__ = ["processes"]

OUTAGE_SECONDS = 12.0
REFERENCES = 48


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer(latency=0.5, output_scale=1 / 32) as running:
        yield running


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own: it is stopped mid-test."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


def run_through(
    environment: dict[str, str],
    processes: Callable[[dict[str, str]], Processes],
    tmp_path: Path,
    outage: Callable[[], None],
    *,
    worker: bool = False,
) -> tuple[str, str]:
    """Run a job with `generate` (or queue it and run `worker --once`), cause the outage once a few references
    are stored; the job ends `success` with every reference. Returns (job id, what the process printed)."""
    plan = synthetic_plan(REFERENCES, seed=51)
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    job_id = str(plan.job_id)
    studio = services_for(environment)
    try:
        if worker:
            jobs.submit(studio, plan, concurrency=6)
            running = processes(environment).start("worker", "--once")
        else:
            running = processes(environment).start("generate", str(path), "--concurrency", "6", "--json")
        wait_for(lambda: stored(studio, job_id) >= 8, what="8 stored references")
        outage()
        _, err = running.communicate(timeout=180)
        assert running.returncode == 0, err
        result = jobs.result_of(studio, job_id)
        assert result is not None and result.status == "success", err
        assert result.total_references == REFERENCES
    finally:
        studio.close()
    return job_id, err


@pytest.mark.postgres
def test_postgresql_stopped_for_12_seconds_loses_no_reference(
    own_postgres: PostgresServer,
    server: ReplicateServer,
    processes: Callable[[dict[str, str]], Processes],
    tmp_path: Path,
) -> None:
    environment = environment_for(tmp_path / "data", server, own_postgres.create_database())

    def stop_for_a_while() -> None:
        own_postgres.halt()
        time.sleep(OUTAGE_SECONDS)  # the outage itself: nothing to wait on
        own_postgres.serve()

    job_id, err = run_through(environment, processes, tmp_path, stop_for_a_while, worker=True)
    assert "Traceback" not in err, err
    assert err.count("waiting up to 30 s for it to come back") == 1, err
    assert "the records database is back after" in err, err
    studio = services_for(environment)
    try:
        assert_each_image_paid_once_and_ledgered(studio, server, job_id)
    finally:
        studio.close()


def test_sqlite_locked_by_another_process_for_12_seconds_loses_no_reference(
    server: ReplicateServer,
    processes: Callable[[dict[str, str]], Processes],
    tmp_path: Path,
) -> None:
    environment = environment_for(tmp_path / "data", server, None)
    released = threading.Event()

    def hold_the_write_lock() -> None:
        connection = sqlite3.connect(tmp_path / "data" / "studio.db", isolation_level=None, timeout=30)
        connection.execute("BEGIN IMMEDIATE")
        released.wait(OUTAGE_SECONDS)
        connection.execute("ROLLBACK")
        connection.close()

    holder = threading.Thread(target=hold_the_write_lock)
    try:
        job_id, err = run_through(environment, processes, tmp_path, holder.start)
    finally:
        released.set()
        if holder.is_alive():
            holder.join()
    assert "Traceback" not in err, err
    studio = services_for(environment)
    try:
        assert_each_image_paid_once_and_ledgered(studio, server, job_id)
    finally:
        studio.close()
