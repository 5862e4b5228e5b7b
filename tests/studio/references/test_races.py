"""`generate` as users run it at the same time and as machines crash: real processes, one data dir (or one
PostgreSQL database), the real Replicate client against the project's Replicate-compatible server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.plans import synthetic_plan
from studio.plans.scene_plan import ScenePlan
from tests.servers.postgres import PostgresServer
from tests.servers.replicate import ReplicateServer
from tests.studio.processes import (
    STRESS_ROUNDS,
    Processes,
    assert_each_image_paid_once_and_ledgered,
    environment_for,
    kill,
    processes,
    services_for,
    stored,
    wait_for,
)
from tests.studio.written import unsigned

__all__ = ["processes"]

NO_KILL_LEASE = "15"
"""The lease of races where nobody is killed: on two loaded cores a live holder's heartbeat can miss a 2 s
lease, and losing it three times fails the work as if its holders had died."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database(request: pytest.FixtureRequest) -> Callable[[], str | None]:
    """A maker of empty databases: None (SQLite in each fresh data dir) or a new PostgreSQL database."""
    if request.param == "sqlite":
        return lambda: None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer(latency=0.3, output_scale=1 / 32) as running:
        yield running


def write_plan(directory: Path, plan: ScenePlan) -> Path:
    path = directory / "plan.json"
    path.write_text(plan.model_dump_json())
    return path


def test_two_generates_started_together_on_a_fresh_data_dir_agree_and_pay_once(
    tmp_path: Path,
    server: ReplicateServer,
    fresh_database: Callable[[], str | None],
    processes: Callable[[dict[str, str]], Processes],
) -> None:
    for round_ in range(STRESS_ROUNDS):
        server.reset()
        data_dir = tmp_path / f"round-{round_}"
        data_dir.mkdir()
        env = environment_for(data_dir, server, fresh_database(), STUDIO_LEASE_SECONDS=NO_KILL_LEASE)
        plan_path = write_plan(data_dir, synthetic_plan(6, seed=round_ + 1))
        group = processes(env)
        both = [group.start("generate", str(plan_path), "--json") for _ in range(2)]
        outcomes = [process.communicate(timeout=120) for process in both]
        codes = [process.returncode for process in both]
        assert codes == [0, 0], [err for _, err in outcomes]
        first, second = (unsigned(json.loads(out)) for out, _ in outcomes)
        assert first == second, "both print the one run's result"
        assert first["total_references"] == 6
        studio = services_for(env)
        try:
            assert_each_image_paid_once_and_ledgered(studio, server, first["job_id"])
        finally:
            studio.close()


def test_six_generates_on_an_empty_data_dir_create_it_once_and_agree(
    tmp_path: Path,
    server: ReplicateServer,
    fresh_database: Callable[[], str | None],
    processes: Callable[[dict[str, str]], Processes],
) -> None:
    env = environment_for(tmp_path / "empty", server, fresh_database(), STUDIO_LEASE_SECONDS=NO_KILL_LEASE)
    plan_path = write_plan(tmp_path, synthetic_plan(4, seed=77))
    group = processes(env)
    six = [group.start("generate", str(plan_path), "--json") for _ in range(6)]
    outcomes = [process.communicate(timeout=120) for process in six]
    assert [process.returncode for process in six] == [0] * 6, [err for _, err in outcomes]
    assert len({json.dumps(unsigned(json.loads(out)), sort_keys=True) for out, _ in outcomes}) == 1
    assert not [err for _, err in outcomes if "Traceback" in err]
    studio = services_for(env)
    try:
        assert_each_image_paid_once_and_ledgered(studio, server, str(synthetic_plan(4, seed=77).job_id))
    finally:
        studio.close()


def test_a_run_killed_mid_way_is_resumed_without_paying_twice(
    tmp_path: Path,
    server: ReplicateServer,
    fresh_database: Callable[[], str | None],
    processes: Callable[[dict[str, str]], Processes],
) -> None:
    env = environment_for(tmp_path / "data", server, fresh_database())
    plan = synthetic_plan(48, seed=5)
    plan_path = write_plan(tmp_path, plan)
    job_id = str(plan.job_id)
    group = processes(env)
    studio = services_for(env)
    try:
        first = group.start("generate", str(plan_path), "--concurrency", "6")
        wait_for(  # judged at the provider: a loaded machine's storing may lag its predictions
            lambda: server.count("succeeded") >= 16 and server.count("processing") > 0,
            what="16 predictions made and more in flight",
        )
        kill(first)
        in_flight = server.count("processing")
        assert in_flight > 0, "the kill left predictions running"
        again = group.start("generate", str(plan_path), "--concurrency", "6", "--json")
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert json.loads(out)["total_references"] == 48
        assert "Traceback" not in err
        assert_each_image_paid_once_and_ledgered(studio, server, job_id)
        job = studio.records.jobs.get(job_id)
        assert job is not None and job.status == "success" and job.lease_epoch == 2
    finally:
        studio.close()


def test_a_tight_budget_survives_the_holder_being_killed(
    tmp_path: Path,
    server: ReplicateServer,
    fresh_database: Callable[[], str | None],
    processes: Callable[[dict[str, str]], Processes],
) -> None:
    """Two generates of one plan under a budget that binds; the one running it is SIGKILLed. The other takes
    the job over once the lease runs out (its reservations are void) and ends it, in bounded time."""
    lease = 2.0
    env = environment_for(tmp_path / "data", server, fresh_database(), REFERENCE_GEN_TIMEOUT="4")
    plan = synthetic_plan(24, seed=9)
    plan_path = write_plan(tmp_path, plan)
    job_id = str(plan.job_id)
    group = processes(env)
    studio = services_for(env)
    try:
        both = [group.start("generate", str(plan_path), "--duration-seconds", "0.009") for _ in range(2)]
        wait_for(lambda: stored(studio, job_id) >= 4, what="4 stored references")
        holder = studio.records.jobs.get(job_id)
        assert holder is not None and holder.lease_owner is not None
        pid = int(holder.lease_owner.split(":")[1])
        victim = next(process for process in both if process.pid == pid)
        survivor = next(process for process in both if process.pid != pid)
        kill(victim)
        killed_at = time.monotonic()
        _, err = survivor.communicate(timeout=60)
        ended_in = time.monotonic() - killed_at
        assert survivor.returncode in (0, 3), err
        assert ended_in < lease + 20, f"the survivor took {ended_in:.1f} s after the kill"
        job = studio.records.jobs.get(job_id)
        assert job is not None and job.status in ("success", "partial", "failed") and job.lease_epoch == 2
        assert job.reserved_nanos == 0
        assert_each_image_paid_once_and_ledgered(studio, server, job_id)
    finally:
        studio.close()
