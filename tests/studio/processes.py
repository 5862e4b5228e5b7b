"""Studio processes for the race and crash tests: real `python -m studio` commands sharing one data dir (or
one PostgreSQL database) and one Replicate-compatible server, plus the audits those tests make afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from studio.services import Services, build_services
from studio.settings import Settings
from tests.cli_runner import ROOT
from tests.servers.replicate import ReplicateServer

STRESS_ROUNDS = int(os.environ.get("STUDIO_STRESS_ROUNDS", "2"))
"""Rounds of a race loop: a few in `make test`, more when looking for a rare race
(`STUDIO_STRESS_ROUNDS=20 make test`)."""


class Processes:
    """Starts studio commands with one environment; every process is killed and reaped when the test ends."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "studio", *args],
            cwd=ROOT,
            env={**os.environ, **self.environment, **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)
        self.started.clear()


def environment_for(
    data_dir: Path, server: ReplicateServer, database_url: str | None, **extra: str
) -> dict[str, str]:
    env = {
        "STUDIO_DATA_DIR": str(data_dir),
        "REPLICATE_API_TOKEN": server.token,
        "REPLICATE_BASE_URL": server.base_url,
        "REFERENCE_RETRY_BACKOFF": "0.01",
        "STUDIO_LEASE_SECONDS": "2",
        **extra,
    }
    if database_url:
        env["STUDIO_DATABASE_URL"] = database_url
    return env


def services_for(environment: dict[str, str]) -> Services:
    """The test's own view of the shared records and storage (built like a studio process builds them)."""
    return build_services(Settings(**{name.lower(): value for name, value in environment.items()}))


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stored(services: Services, job_id: str) -> int:
    return sum(1 for row in services.records.references.of_job(job_id).values() if row.status == "stored")


def requested(server: ReplicateServer) -> Counter[tuple[str, int]]:
    """Predictions created per image: its prompt and seed."""
    return Counter(
        (create.input["prompt"], create.input["seed"]) for create in server.creates if create.answered == 201
    )


def assert_each_image_paid_once_and_ledgered(
    services: Services, server: ReplicateServer, *job_ids: str
) -> None:
    """No image was requested twice, and the ledger holds exactly what the server charged, call by call."""
    again = {key: count for key, count in requested(server).items() if count > 1}
    assert not again, f"requested more than once: {again}"
    ledger = [
        e for job_id in job_ids for e in services.records.ledger.entries(job_id=job_id) if not e.cache_hit
    ]
    charged = {charge.prediction_id: charge.cost for charge in server.charges()}
    in_ledger = {e.prediction_id: e.amount for e in ledger}
    assert len(in_ledger) == len(ledger), "each prediction is ledgered once"
    assert in_ledger == charged, "the ledger equals what the provider charged"
    for job_id in job_ids:
        job = services.records.jobs.get(job_id)
        assert job is not None and job.spent_nanos <= job.budget_nanos, "the budget was never overshot"
        total, spent = services.records.ledger.total(job_id), Decimal(job.spent_nanos) / 10**9
        assert total == spent, f"the job's ledger adds up to {total}, its work counts {spent} spent"


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


@pytest.fixture
def processes() -> Iterator[Callable[[dict[str, str]], Processes]]:
    made: list[Processes] = []

    def make(environment: dict[str, str]) -> Processes:
        made.append(Processes(environment))
        return made[-1]

    yield make
    for group in made:
        group.close()
