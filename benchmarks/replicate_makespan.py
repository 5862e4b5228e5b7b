"""Makespan of reference generation on the Replicate backend over the ideal ceil(N/c) x L. Target <= 1.05.

The project's Replicate server runs in its own process (as the real API is remote), every prediction takes
L = 0.5 s, and the pipeline stores into local storage through the real client. Outputs are 64x64 PNGs so
the figure is the orchestration's, not the image codec's. All cases run through one services container, as a
long-running worker keeps one; a first N=4 run warms connections and statement caches (its time is
printed as the cold start). Each case also runs the generator alone under a semaphore, which
separates what the Replicate backend adds from the pipeline's own per-image work.
`python -m benchmarks replicate_makespan`.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.plans import synthetic_plan
from studio.generation.base import GenerationRequest
from studio.generation.replicate import ReplicateImageGenerator
from studio.pipeline import generate_references
from studio.services import Services, build_services
from studio.settings import Settings

LATENCY = 0.5
CASES = [(4, 6), (48, 6), (200, 6), (200, 32)]
TARGET = 1.05
ROOT = Path(__file__).resolve().parents[1]


def start_replicate_server(latency: float = LATENCY) -> tuple[subprocess.Popen[str], str, str]:
    """The project's Replicate-compatible server in its own process: (process, base URL, token)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.replicate", "--port", "0", "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip().partition("=")[2]
    token = server.stdout.readline().strip().partition("=")[2]
    return server, base_url, token


async def _makespan(services: Services, references: int, concurrency: int, seed: int) -> float:
    plan = synthetic_plan(references, seed=seed)
    started = time.perf_counter()
    result = await generate_references(services, plan.job_id, plan, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    assert result is not None and result.total_references == references, "every reference must be stored"
    return elapsed


async def _generator_makespan(base_url: str, token: str, references: int, concurrency: int) -> float:
    """The Replicate generator alone under a semaphore: what the backend adds, without the pipeline's work."""
    generator = ReplicateImageGenerator(api_token=token, base_url=base_url)
    requests = [
        GenerationRequest(f"bench {references} {concurrency} {n}", "", n, "scene", "bench")
        for n in range(references)
    ]
    slots = asyncio.Semaphore(concurrency)

    async def one(request: GenerationRequest) -> None:
        async with slots:
            await generator.generate(request)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(request) for request in requests))
        return time.perf_counter() - started
    finally:
        await generator.aclose()


async def _measure(base_url: str, token: str) -> tuple[float, list[dict[str, float]]]:
    """Every case through one services container, as a long-running worker or the app keeps one."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            image_provider="replicate",
            storage="local",
            replicate_api_token=token,
            replicate_base_url=base_url,
        )
        services = build_services(settings)
        try:
            cold = await _makespan(services, 4, 6, seed=1000)
            rows = []
            for seed, (references, concurrency) in enumerate(CASES):
                ideal = math.ceil(references / concurrency) * LATENCY
                elapsed = await _makespan(services, references, concurrency, seed)
                alone = await _generator_makespan(base_url, token, references, concurrency)
                rows.append(
                    {"N": references, "c": concurrency, "ideal": ideal, "makespan": elapsed, "alone": alone}
                )
        finally:
            await services.generator.aclose()
            services.close()
    return cold, rows


def run() -> list[dict[str, float]]:
    server, base_url, token = start_replicate_server()
    try:
        cold, rows = asyncio.run(_measure(base_url, token))
    finally:
        server.terminate()
        server.wait()
    print(f"Replicate backend makespan, L = {LATENCY} s per prediction (target ratio <= {TARGET})")
    print(f"  first run in a fresh process (connections, statement caches), N=4 c=6: {cold:.3f} s; then:")
    print(
        f"  {'N':>4} {'c':>3} {'ideal s':>8} {'pipeline s':>11} {'ratio':>6}"
        f" {'generator alone s':>18} {'ratio':>6}"
    )
    for row in rows:
        ratio = row["makespan"] / row["ideal"]
        flag = "" if ratio <= TARGET else "  pipeline over target"
        print(
            f"  {row['N']:>4} {row['c']:>3} {row['ideal']:>8.2f} {row['makespan']:>11.3f} {ratio:>6.3f}"
            f" {row['alone']:>18.3f} {row['alone'] / row['ideal']:>6.3f}{flag}"
        )
    return rows


if __name__ == "__main__":
    run()
