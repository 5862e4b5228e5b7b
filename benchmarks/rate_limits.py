"""Processes sharing one provider account under its rate limit: the issue's scenarios against the project's
Replicate-compatible server throttling creates account-wide (429 + Retry-After), on PostgreSQL.

- 8 `generate` processes started together, one job of 48 references each (concurrency 6);
- 4 `worker` processes sharing those 8 jobs (two jobs at a time each, concurrency 6);
- one `generate` of 200 references at concurrency 32;
- an account at 1 create/s and at most 6 a minute, one job of 12 (about 70 s: two of its minutes).

Each line gives the wall time beside the bound max(references / rate, waves x latency) (+2 s for process
start; target: within 15 %), the throttled creates (target: under 10 % of the references) and the images
paid twice (target: none). REPLICATE_CREATES_PER_MINUTE is the account's rate. `python -m benchmarks
rate_limits`; `RATE_LIMIT_SCENARIOS=generates,workers,single,slow_account` picks scenarios.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.plans import synthetic_plan
from studio.references import jobs
from studio.services import Services, build_services
from studio.settings import Settings
from tests.servers.postgres import PostgresServer
from tests.servers.replicate import ReplicateServer, Throttle

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 0.5
RATE = 20
"""Creates a second the account takes."""
START_SECONDS = 2.0
TARGET = 1.15
THROTTLED_SHARE = 0.10


@dataclass
class Scenario:
    name: str
    references: int
    waves: int
    rate: float
    wall: float = 0.0
    throttled: int = 0
    paid_twice: int = 0
    statuses: Counter[str] | None = None
    first_create: float = 0.0
    last_create: float = 0.0
    window_bound: float | None = None
    """The bound of an account limited per window (it is not judged against the targets: it must finish)."""

    @property
    def bound(self) -> float:
        if self.window_bound is not None:
            return self.window_bound
        return max(self.references / self.rate, self.waves * LATENCY)

    def line(self) -> str:
        ratio = self.wall / (self.bound + START_SECONDS)
        finished = set(self.statuses or {}) == {"success"} and not self.paid_twice
        within = ratio <= TARGET and self.throttled < THROTTLED_SHARE * self.references
        judged = "ok" if finished and (within or self.window_bound is not None) else "MISSED"
        return (
            f"  {self.name:<44} wall {self.wall:6.1f} s  bound {self.bound:5.1f} s (+{START_SECONDS:g})"
            f"  {ratio:4.2f}x  throttled {self.throttled:3d} ({self.throttled / self.references:4.1%})"
            f"  paid twice {self.paid_twice}  jobs {dict(self.statuses or {})}  {judged}\n"
            f"    creates from {self.first_create:.1f} s (the processes' start) to {self.last_create:.1f} s; "
            f"from the first create to the end {self.wall - self.first_create:.1f} s, "
            f"{(self.wall - self.first_create) / self.bound:.2f}x the bound"
        )


def _environment(
    data_dir: Path, server: ReplicateServer, database_url: str, per_minute: float
) -> dict[str, str]:
    return {
        **os.environ,
        "STUDIO_DATA_DIR": str(data_dir),
        "STUDIO_DATABASE_URL": database_url,
        "REPLICATE_API_TOKEN": server.token,
        "REPLICATE_BASE_URL": server.base_url,
        "REPLICATE_CREATES_PER_MINUTE": f"{per_minute:g}",
        "STUDIO_LOG_FORMAT": "json",
    }


def _services(env: dict[str, str]) -> Services:
    names = ("STUDIO_DATA_DIR", "STUDIO_DATABASE_URL", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL")
    return build_services(Settings(**{name.lower(): env[name] for name in names}))


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "studio", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _audit(scenario: Scenario, server: ReplicateServer, services: Services, job_ids: list[str]) -> None:
    created = Counter((c.input["prompt"], c.input["seed"]) for c in server.creates if c.answered == 201)
    scenario.paid_twice = sum(count - 1 for count in created.values())
    charged = Counter(
        e.prediction_id
        for job_id in job_ids
        for e in services.records.ledger.entries(job_id=job_id)
        if not e.cache_hit
    )
    scenario.paid_twice += sum(count - 1 for count in charged.values())
    scenario.throttled = server.throttled
    scenario.statuses = Counter(
        str(job.status) for job_id in job_ids if (job := services.records.jobs.get(job_id)) is not None
    )


def _run(
    scenario: Scenario,
    postgres: PostgresServer,
    throttle: Throttle,
    per_minute: float,
    plans: list[tuple[int, int]],
    how: str,
) -> Scenario:
    """`plans`: (references, seed) per job; `how`: `generate N` (one process per job, concurrency N) or
    `worker K` (K workers sharing the queued jobs)."""
    kind, _, count = how.partition(" ")
    with (
        ReplicateServer(latency=LATENCY, output_scale=1 / 64, throttle=throttle) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = _environment(Path(tmp), server, postgres.create_database(), per_minute)
        services = _services(env)
        made = [synthetic_plan(size, seed=seed) for size, seed in plans]
        job_ids = [str(plan.job_id) for plan in made]
        if kind == "worker":
            for plan in made:
                jobs.submit(services, plan, duration_seconds=600, concurrency=6)
            started = time.perf_counter()
            processes = [_start(env, "worker", "--once", "--poll", "0.1") for _ in range(int(count))]
        else:
            paths = []
            for n, plan in enumerate(made):
                paths.append(Path(tmp) / f"plan{n}.json")
                paths[-1].write_text(plan.model_dump_json())
            started = time.perf_counter()
            processes = [
                _start(env, "generate", str(path), "--concurrency", count, "--duration-seconds", "600")
                for path in paths
            ]
        for process in processes:
            process.wait(900)
        scenario.wall = time.perf_counter() - started
        moments = sorted(p.created for p in server.predictions.values())
        offset = time.monotonic() - time.perf_counter() + started  # perf_counter's start on monotonic's clock
        scenario.first_create, scenario.last_create = moments[0] - offset, moments[-1] - offset
        _audit(scenario, server, services, job_ids)
        services.close()
    return scenario


def slow_account(postgres: PostgresServer) -> Scenario:
    """1 create a second and at most 6 a minute: 6 images in the first seconds, 6 more once the minute is over
    (the bound: 60 s + 5 s + L)."""
    scenario = Scenario("1/s and 6/min account, one job of 12", 12, 2, 0.1, window_bound=60 + 5 + LATENCY)
    throttle = Throttle(((1, 1.0), (6, 60.0)))
    _run(scenario, postgres, throttle, 600, [(12, 700)], "generate 6")
    return scenario


def run() -> dict[str, float]:
    wanted = set(os.environ.get("RATE_LIMIT_SCENARIOS", "generates,workers,single,slow_account").split(","))
    postgres = PostgresServer().start()
    results: list[Scenario] = []
    per_minute = RATE * 60
    throttle = Throttle.per_second(RATE)
    eight = [(48, 500 + n) for n in range(8)]
    waves = math.ceil(48 / 6)
    try:
        print(f"account: {RATE} creates/s (REPLICATE_CREATES_PER_MINUTE={per_minute}), L = {LATENCY} s")
        if "generates" in wanted:
            scenario = Scenario("8 generate x 48 refs, concurrency 6", 384, waves, RATE)
            results.append(_run(scenario, postgres, throttle, per_minute, eight, "generate 6"))
            print(results[-1].line(), flush=True)
        if "workers" in wanted:
            scenario = Scenario("4 workers sharing 8 jobs x 48, concurrency 6", 384, 2 * waves, RATE)
            results.append(_run(scenario, postgres, throttle, per_minute, eight, "worker 4"))
            print(results[-1].line(), flush=True)
        if "single" in wanted:
            scenario = Scenario("1 generate x 200 refs, concurrency 32", 200, math.ceil(200 / 32), RATE)
            results.append(_run(scenario, postgres, throttle, per_minute, [(200, 600)], "generate 32"))
            print(results[-1].line(), flush=True)
        if "slow_account" in wanted:
            results.append(slow_account(postgres))
            print(results[-1].line(), flush=True)
    finally:
        postgres.stop()
    return {s.name: s.wall / (s.bound + START_SECONDS) for s in results}


if __name__ == "__main__":
    run()
