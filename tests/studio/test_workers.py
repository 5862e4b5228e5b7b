"""Separate worker processes against one database and bucket: a SIGKILL mid-job, and two workers on one job.

Workers are real `python -m studio worker` processes driving the real Replicate client against the
project's Replicate-compatible server; the suite runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from benchmarks.plans import synthetic_plan
from studio import jobs
from studio.keys import REFERENCE_BUCKET
from studio.services import Services, build_services
from studio.settings import Settings
from tests.cli_runner import ROOT
from tests.servers.replicate import ReplicateServer


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"STUDIO_DATABASE_URL": str(request.getfixturevalue("postgres_url"))}


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer(latency=0.3, output_scale=1 / 32) as running:
        yield running


@pytest.fixture
def environment(data_dir: Path, database_env: dict[str, str], server: ReplicateServer) -> dict[str, str]:
    env = {
        "STUDIO_DATA_DIR": str(data_dir),
        "REPLICATE_API_TOKEN": server.token,
        "REPLICATE_BASE_URL": server.base_url,
        "REFERENCE_RETRY_BACKOFF": "0.01",
        "STUDIO_LEASE_SECONDS": "300",  # takeover must not wait for expiry: the owner is known to be gone
        **database_env,
    }
    os.environ.update(env)
    return env


@pytest.fixture
def studio(environment: dict[str, str]) -> Iterator[Services]:
    built = build_services(Settings())
    assert built.generator.name == "replicate"
    yield built
    built.close()


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test() -> Iterator[None]:
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
        process.wait(10)


def start_worker(environment: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "worker", "--once", "--poll", "0.1"],
        cwd=ROOT,
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started.append(process)
    return process


def wait_for(condition, timeout: float = 60, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def statuses(studio: Services, job_id: str) -> Counter[str]:
    return Counter(row.status for row in studio.records.references(job_id).values())


def prompts_created(server: ReplicateServer) -> Counter[tuple[str, int]]:
    """Predictions created per reference: its prompt and its seed (two references may share a prompt)."""
    return Counter(
        (create.input["prompt"], create.input["seed"]) for create in server.creates if create.answered == 201
    )


def test_a_worker_killed_mid_job_loses_nothing(
    studio: Services, server: ReplicateServer, environment: dict[str, str]
) -> None:
    plan = synthetic_plan(32)
    job_id = jobs.submit(studio, plan, concurrency=4)
    first = start_worker(environment)
    try:
        wait_for(lambda: statuses(studio, job_id)["stored"] >= 8, what="8 stored references")
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(10)
    in_flight = {ref for ref, row in studio.records.references(job_id).items() if row.status == "generating"}
    assert 0 < len(in_flight) <= 12, "4 generating, some storing, each slot's next one claimed ahead"

    second = start_worker(environment)
    _, errors = second.communicate(timeout=120)
    assert second.returncode == 0, errors

    job = studio.records.get_job(job_id)
    rows = studio.records.references(job_id)
    unfinished = {r.ref: (r.status, r.error) for r in rows.values() if r.status != "stored"}
    assert job is not None and job.status == "success", unfinished
    assert not unfinished and len(rows) == 32
    for row in rows.values():
        assert studio.storage.exists(REFERENCE_BUCKET, row.storage_key)
    requested_twice = {prompt for (prompt, _), count in prompts_created(server).items() if count > 1}
    assert len(requested_twice) <= len(in_flight), "only the images in flight (generating or storing) again"
    assert requested_twice <= {rows[ref].prompt for ref in in_flight}
    ledger = [e for e in studio.records.ledger(job_id=job_id) if not e.cache_hit]
    charged = {c.prediction_id: c.cost for c in server.charges()}
    assert len({e.prediction_id for e in ledger}) == len(ledger), "each prediction is charged once"
    assert all(charged[e.prediction_id] == e.amount for e in ledger)
    assert {e.ref for e in ledger} == set(rows)


def test_two_workers_share_one_job_without_doing_anything_twice(
    studio: Services, server: ReplicateServer, environment: dict[str, str]
) -> None:
    budget = {"STUDIO_BUDGET_PER_MINUTE": "0.012", "REFERENCE_GEN_TIMEOUT": "4"}
    os.environ.update(budget)  # reserve 4 s x $0.000725 a call, spend ~0.3 s: the budget binds near the end
    tight = build_services(Settings())
    try:
        plan = synthetic_plan(48)
        job_id = jobs.submit(tight, plan, duration_seconds=60, concurrency=4)
        workers = [start_worker(environment | budget)]
        wait_for(lambda: statuses(tight, job_id)["generating"] > 0, what="the first worker to start")
        workers.append(start_worker(environment | budget))
        for worker in workers:
            _, errors = worker.communicate(timeout=120)
            assert worker.returncode == 0, errors
        job = tight.records.get_job(job_id)
        assert job is not None and job.status in ("partial", "failed", "success")
        assert job.spent_nanos <= job.budget_nanos == 12_000_000
        assert max(prompts_created(server).values()) == 1, "no reference was requested twice"
        assert server.max_in_flight() <= 8, "each worker keeps to the job's concurrency of 4"
        versions = tight.records.versions(job_id)
        assert len({v.ref for v in versions}) == len(versions)
        pids = {v.worker.split(":")[1] for v in versions if v.worker}
        assert pids == {str(w.pid) for w in workers}, "both workers generated references"
        stored = sum(1 for row in tight.records.references(job_id).values() if row.status == "stored")
        assert stored < 48, "the budget stopped some images"
        assert tight.records.ledger_total(job_id) == Decimal(job.spent_nanos) / 10**9
    finally:
        tight.close()
