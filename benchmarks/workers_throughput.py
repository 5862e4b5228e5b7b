"""Throughput of 1 vs 2 separate worker processes on one job of 200 references (issue 7).

Each worker is `python -m studio worker --once` against one SQLite database and one local bucket, driving
the real Replicate client against the project's Replicate-compatible server at L = 0.5 s per prediction,
with the default concurrency of 6 per worker. Also reports how many images a SIGKILL re-requests.
`python -m benchmarks workers_throughput`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.plans import synthetic_plan
from benchmarks.replicate_makespan import start_replicate_server
from studio import jobs
from studio.services import build_services
from studio.settings import Settings
from tests.servers.replicate import ReplicateServer

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 0.5
N = 200


def _environment(data_dir: Path, base_url: str, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "STUDIO_DATA_DIR": str(data_dir),
        "REPLICATE_API_TOKEN": token,
        "REPLICATE_BASE_URL": base_url,
        "STUDIO_LOG_FORMAT": "json",
    }


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "studio", "worker", "--once", "--poll", "0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stored(services, job_id: str) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for row in services.records.references.of_job(job_id).values() if row.status == "stored")


def _throughput(workers: int, base_url: str, token: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = _environment(Path(tmp), base_url, token)
        os.environ.update(
            {k: env[k] for k in ("STUDIO_DATA_DIR", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL")}
        )
        services = build_services(Settings())
        plan = synthetic_plan(N, seed=workers)
        job_id = jobs.submit(services, plan)
        started = time.perf_counter()
        processes = [_worker(env)]
        while (
            workers > 1 and _stored(services, job_id) == 0 and not services.records.references.of_job(job_id)
        ):
            time.sleep(0.02)
        processes += [_worker(env) for _ in range(workers - 1)]
        for process in processes:
            process.wait(600)
        elapsed = time.perf_counter() - started
        assert _stored(services, job_id) == N
        services.close()
    return elapsed


def _kill_and_resume() -> tuple[int, int, int, int]:
    """SIGKILL a worker mid-job and finish with another, against an in-process server whose books we read.

    Returns (references the dead worker held, images requested again, charges, references charged twice).
    """
    with (
        ReplicateServer(latency=LATENCY, output_scale=1 / 16) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = _environment(Path(tmp), server.base_url, server.token)
        os.environ.update(
            {k: env[k] for k in ("STUDIO_DATA_DIR", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL")}
        )
        services = build_services(Settings())
        plan = synthetic_plan(48, seed=99)
        job_id = jobs.submit(services, plan)
        first = _worker(env)
        while _stored(services, job_id) < 16:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        held = sum(1 for r in services.records.references.of_job(job_id).values() if r.status == "generating")
        second = _worker(env)
        second.wait(600)
        assert _stored(services, job_id) == 48
        created = Counter((c.input["prompt"], c.input["seed"]) for c in server.creates if c.answered == 201)
        ledger = [e for e in services.records.ledger.entries(job_id=job_id) if not e.cache_hit]
        charged = Counter(e.ref for e in ledger)
        services.close()
    again = sum(count - 1 for count in created.values())
    return held, again, len(ledger), sum(1 for count in charged.values() if count > 1)


def run() -> dict[str, float]:
    server, base_url, token = start_replicate_server(LATENCY)
    try:
        one = _throughput(1, base_url, token)
        two = _throughput(2, base_url, token)
        held, again, charges, charged_twice = _kill_and_resume()
    finally:
        server.terminate()
        server.wait()
    ideal = (N // 6 + (N % 6 > 0)) * LATENCY
    print(f"{N} references, L = {LATENCY} s, concurrency 6 per worker (one worker's ideal: {ideal:.1f} s)")
    print(f"  1 worker : {one:6.2f} s  {N / one:5.1f} images/s")
    print(f"  2 workers: {two:6.2f} s  {N / two:5.1f} images/s  ({one / two:.2f}x)")
    print(
        f"  SIGKILL after 16 of 48 stored: the dead worker held {held} references (generating, storing or"
        f" claimed ahead), all taken over at once; {again} image(s) requested again;"
        f" {charges} charges for 48 images, {charged_twice} reference(s) charged twice"
    )
    return {"one": one, "two": two, "held": held, "requested_again": again, "charged_twice": charged_twice}


if __name__ == "__main__":
    run()
