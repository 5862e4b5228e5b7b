"""A provider's rate limit never fails an image: real `generate` processes share one pace through the
records, against the Replicate-compatible server throttling creates account-wide (429 + when it resets)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.plans import synthetic_plan
from tests.cli_runner import studio
from tests.servers.replicate import ReplicateServer, Throttle
from tests.studio.processes import (
    Processes,
    assert_each_image_paid_once_and_ledgered,
    environment_for,
    processes,
    services_for,
)

__all__ = ["processes"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer(latency=0.1, output_scale=1 / 32, throttle=Throttle.per_second(20)) as running:
        yield running


def test_four_generates_past_the_accounts_limit_all_succeed_each_image_paid_once(
    tmp_path: Path,
    data_dir: Path,
    server: ReplicateServer,
    database_url: str | None,
    processes: Callable[[dict[str, str]], Processes],
) -> None:
    """Set a quarter above what the account takes, the pace meets 429s, slows, and no image fails for them."""
    environment = environment_for(data_dir, server, database_url, REPLICATE_CREATES_PER_MINUTE="1500")
    records = services_for(environment)  # the records exist before the processes start
    plans = [synthetic_plan(12, seed=300 + n) for n in range(4)]
    group = processes(environment)
    started = []
    for n, plan in enumerate(plans):
        path = tmp_path / f"plan{n}.json"
        path.write_text(plan.model_dump_json())
        started.append(group.start("generate", str(path), "--concurrency", "6", "--json"))
    for process in started:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert json.loads(out)["status"] == "success", err
    assert server.throttled > 0, f"the account's limit was met ({server.throttled} throttled)"
    try:
        job_ids = [str(plan.job_id) for plan in plans]
        for job_id in job_ids:
            references = records.records.references.of_job(job_id).values()
            assert {(row.status, row.attempts) for row in references} == {("stored", 1)}, "no retry used"
        assert_each_image_paid_once_and_ledgered(records, server, *job_ids)
    finally:
        records.close()


def test_an_account_of_six_a_window_finishes_slowly_and_says_why(
    tmp_path: Path, data_dir: Path, server: ReplicateServer
) -> None:
    """1 create per 0.05 s, at most 6 per second (Replicate's 1/s and 6/min, scaled down); the 429 names its
    reset only in words."""
    server.throttle = Throttle(((1, 0.05), (6, 1.0)), retry_after_header=False)
    plan = tmp_path / "plan.json"
    plan.write_text(synthetic_plan(12, seed=400).model_dump_json())
    environment = environment_for(data_dir, server, None, REPLICATE_CREATES_PER_MINUTE="600")
    result = studio("generate", str(plan), env=environment)
    assert result.code == 0, result.stderr
    assert "waiting" in result.stderr and "for the provider's rate limit" in result.stderr
    assert "success" in result.stdout
    assert "s for the provider's rate limit" in result.stdout, "the summary says how long it waited"
    assert server.throttled > 0 and server.created == 12
