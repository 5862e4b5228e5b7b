"""Workers sharing a queue: 4 jobs of 50 references each run by 1 and by 2 `python -m studio worker --once`
processes, and a worker SIGKILLed mid-job whose job another one takes over.

Each worker drives the real Replicate client against the project's Replicate-compatible server in its own
process (L = 0.5 s per prediction) with the default concurrency of 6 per job; one SQLite database, one local
bucket. The job is the unit of work: two workers share a queue job by job. `python -m benchmarks
workers_throughput`.
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
from benchmarks.replicate_makespan import UNLIMITED_ACCOUNT, replicate_server
from studio.references import jobs
from studio.services import Services, build_services
from studio.settings import Settings
from tests.servers.replicate import ReplicateServer

ROOT = Path(__file__).resolve().parents[1]
LATENCY = 0.5
JOBS, SIZE = 4, 50
LEASE_SECONDS = 2


def _environment(data_dir: Path, base_url: str, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "STUDIO_DATA_DIR": str(data_dir),
        "REPLICATE_API_TOKEN": token,
        "REPLICATE_BASE_URL": base_url,
        "STUDIO_LEASE_SECONDS": str(LEASE_SECONDS),
        "STUDIO_LOG_FORMAT": "json",
        "REPLICATE_CREATES_PER_MINUTE": str(UNLIMITED_ACCOUNT),
    }


def _services(env: dict[str, str]) -> Services:
    names = ("STUDIO_DATA_DIR", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "STUDIO_LEASE_SECONDS")
    return build_services(Settings(**{name.lower(): env[name] for name in names}))


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "studio", "worker", "--once", "--poll", "0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stored(services: Services, job_id: str) -> int:
    return sum(1 for row in services.records.references.of_job(job_id).values() if row.status == "stored")


def _throughput(workers: int, base_url: str, token: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = _environment(Path(tmp), base_url, token)
        services = _services(env)
        job_ids = [
            jobs.submit(services, synthetic_plan(SIZE, seed=100 * workers + n), duration_seconds=180)
            for n in range(JOBS)
        ]
        started = time.perf_counter()
        processes = [_worker(env) for _ in range(workers)]
        for process in processes:
            process.wait(600)
        elapsed = time.perf_counter() - started
        assert all(_stored(services, job_id) == SIZE for job_id in job_ids)
        services.close()
    return elapsed


def _kill_and_take_over() -> tuple[int, float, int, int]:
    """SIGKILL a worker after 16 of 48 images, let another take the job over; read the server's books.

    Returns (images in flight at the kill, seconds from the kill to the job's end, images requested again,
    references charged twice).
    """
    with (
        ReplicateServer(latency=LATENCY, output_scale=1 / 16) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = _environment(Path(tmp), server.base_url, server.token)
        services = _services(env)
        job_id = jobs.submit(services, synthetic_plan(48, seed=99), duration_seconds=180)
        first = _worker(env)
        while _stored(services, job_id) < 16:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = time.perf_counter()
        in_flight = server.count("processing")
        second = _worker(env)
        second.wait(600)
        took = time.perf_counter() - killed
        assert _stored(services, job_id) == 48
        created = Counter((c.input["prompt"], c.input["seed"]) for c in server.creates if c.answered == 201)
        ledger = [e for e in services.records.ledger.entries(job_id=job_id) if not e.cache_hit]
        charged = Counter(e.ref for e in ledger)
        services.close()
    again = sum(count - 1 for count in created.values())
    return in_flight, took, again, sum(1 for count in charged.values() if count > 1)


def run() -> dict[str, float]:
    with replicate_server(LATENCY) as (base_url, token):
        one = _throughput(1, base_url, token)
        two = _throughput(2, base_url, token)
    in_flight, took, again, charged_twice = _kill_and_take_over()
    total = JOBS * SIZE
    print(f"{JOBS} jobs x {SIZE} references, L = {LATENCY} s, concurrency 6 per job")
    print(f"  1 worker : {one:6.2f} s  {total / one:5.1f} images/s")
    print(f"  2 workers: {two:6.2f} s  {total / two:5.1f} images/s  ({one / two:.2f}x)")
    print(
        f"  SIGKILL after 16 of 48 stored, {in_flight} predictions in flight: the job was taken over once its"
        f" {LEASE_SECONDS} s lease ran out and ended {took:.1f} s after the kill; {again} image(s) requested"
        f" again, {charged_twice} reference(s) charged twice"
    )
    return {"one": one, "two": two, "requested_again": again, "charged_twice": charged_twice}


if __name__ == "__main__":
    run()
