"""Makespan of reference generation on Replicate over the ideal ceil(N/c) x L (target: within 5 %, and no
more than 0.01 behind the naive peer's median), beside what a user would write instead, measured in the same
run against the same server:

- studio: `jobs.generate` through one long-lived services container (budget, records, storage, events);
- naive: the official client's `async_run` under an `asyncio.Semaphore`, each output read and written to a
  file (the ten-line script the studio replaces);
- bare: raw `httpx` posts with `Prefer: wait` under a semaphore, output decoded (the floor of the wire).

The project's Replicate-compatible server runs in its own process (the real API is remote); every prediction
takes L = 0.5 s; outputs are 64x64 PNGs so the figure is the orchestration's, not the image codec's. Each
variant runs ROUNDS times per case, interleaved, after a warm-up round at the case's concurrency.
`python -m benchmarks replicate_makespan`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.plans import synthetic_plan
from studio.references import jobs
from studio.services import Services, build_services
from studio.settings import DEFAULT_SDXL_VERSION, Settings

LATENCY = 0.5
CASES = [(48, 6), (200, 32)]
ROUNDS = 5
TARGET = 1.05
PEER_SLACK = 0.01
"""How far behind the naive official client's median the studio may be."""
SONG_SECONDS = 180.0
"""A three-minute song: its budget (3 x $200) does not bind, as for a real music video."""
ROOT = Path(__file__).resolve().parents[1]
UNLIMITED_ACCOUNT = 1_000_000
"""REPLICATE_CREATES_PER_MINUTE of an account whose rate limit never binds (this server throttles nothing):
the figures are the orchestration's; benchmarks/rate_limits.py measures an account's limit."""


@contextlib.contextmanager
def replicate_server(latency: float = LATENCY) -> Iterator[tuple[str, str]]:
    """The project's Replicate-compatible server in its own process for the block: (base URL, token)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.replicate", "--port", "0", "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip().partition("=")[2]
        token = server.stdout.readline().strip().partition("=")[2]
        yield base_url, token
    finally:
        server.terminate()
        server.wait()


def _inputs(label: str, n: int) -> dict[str, object]:
    return {
        "prompt": f"{label} reference {n}",
        "negative_prompt": "blurry",
        "width": 1024,
        "height": 1024,
        "num_outputs": 1,
        "guidance_scale": 7.5,
        "num_inference_steps": 30,
        "scheduler": "K_EULER",
        "seed": n,
    }


async def _studio(services: Services, references: int, concurrency: int, seed: int, _out: Path) -> float:
    plan = synthetic_plan(references, seed=seed)
    started = time.perf_counter()
    generated = await jobs.generate(services, plan, SONG_SECONDS, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    assert generated.result is not None and generated.result.total_references == references
    return elapsed


_NAIVE_CLIENTS: dict[tuple[str, str], Any] = {}


async def _naive(base_url: str, token: str, references: int, concurrency: int, seed: int, out: Path) -> float:
    """What a user writes with the official client: async_run under a semaphore, each image saved. One
    client for every run, as the studio keeps one (a fresh one per run would also pay for new connections)."""
    import replicate

    client = _NAIVE_CLIENTS.setdefault(
        (base_url, token), replicate.Client(api_token=token, base_url=base_url)
    )
    slots = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with slots:
            output = await client.async_run(
                f"stability-ai/sdxl:{DEFAULT_SDXL_VERSION}", input=_inputs(f"naive {seed}", n)
            )
            (out / f"naive-{seed}-{n}.png").write_bytes(await output[0].aread())

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(references)))
    return time.perf_counter() - started


async def _bare(base_url: str, token: str, references: int, concurrency: int, seed: int, out: Path) -> float:
    """Raw httpx, one kept-alive connection per slot: the floor the wire allows."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}", "Prefer": "wait=60"}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=90, headers=headers) as client:
        slots = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with slots:
                body = {"version": DEFAULT_SDXL_VERSION, "input": _inputs(f"bare {seed}", n)}
                prediction = (await client.post("/v1/predictions", json=body)).json()
                data = base64.b64decode(prediction["output"][0].partition(",")[2])
                (out / f"bare-{seed}-{n}.png").write_bytes(data)

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(references)))
        return time.perf_counter() - started


Variant = Callable[[int, int, int, Path], Awaitable[float]]


async def _measure(base_url: str, token: str) -> dict[tuple[int, int], dict[str, list[float]]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        settings = Settings(
            data_dir=Path(tmp) / "studio",
            image_provider="replicate",
            storage="local",
            replicate_api_token=token,
            replicate_base_url=base_url,
            replicate_creates_per_minute=UNLIMITED_ACCOUNT,
        )
        services = build_services(settings)
        variants: dict[str, Variant] = {
            "studio": lambda n, c, seed, o: _studio(services, n, c, seed, o),
            "naive": lambda n, c, seed, o: _naive(base_url, token, n, c, seed, o),
            "bare": lambda n, c, seed, o: _bare(base_url, token, n, c, seed, o),
        }
        try:
            for variant in variants.values():  # warm-up: connections, statement caches, imports
                await variant(4, 4, 999, out)
            results: dict[tuple[int, int], dict[str, list[float]]] = {}
            for case_number, (references, concurrency) in enumerate(CASES):
                for variant in variants.values():  # its connections: a long-running process has them
                    await variant(concurrency, concurrency, 900 + case_number, out)
                times: dict[str, list[float]] = {name: [] for name in variants}
                for round_ in range(ROUNDS):
                    for name, variant in variants.items():
                        seed = 1000 * (case_number + 1) + round_
                        times[name].append(await variant(references, concurrency, seed, out))
                results[(references, concurrency)] = times
        finally:
            await services.aclose()
            services.close()
    return results


def run() -> dict[str, float]:
    with replicate_server() as (base_url, token):
        results = asyncio.run(_measure(base_url, token))
    print(
        f"Replicate makespan / ideal ceil(N/c) x L, L = {LATENCY} s, {ROUNDS} runs each "
        f"(target <= {TARGET}, at most {PEER_SLACK} behind naive)"
    )
    head = ("studio (median, range)", "naive official client", "bare httpx")
    print(f"  {'N':>4} {'c':>3} {'ideal s':>8}  {head[0]:>26}  {head[1]:>26}  {head[2]:>22}")
    figures: dict[str, float] = {}
    for (references, concurrency), times in results.items():
        ideal = math.ceil(references / concurrency) * LATENCY
        cells = []
        for name in ("studio", "naive", "bare"):
            ratios = [t / ideal for t in times[name]]
            median = statistics.median(ratios)
            figures[f"{name} {references}/{concurrency}"] = median
            cells.append(f"{median:.3f} ({min(ratios):.3f}-{max(ratios):.3f})")
        verdict = []
        case = f"{references}/{concurrency}"
        studio, naive = figures[f"studio {case}"], figures[f"naive {case}"]
        verdict.append("within target" if studio <= TARGET else "OVER TARGET")
        behind = studio - naive
        verdict.append(f"{behind:+.3f} beside naive" + ("" if behind <= PEER_SLACK else " (TOO FAR BEHIND)"))
        row = f"  {references:>4} {concurrency:>3} {ideal:>8.2f}"
        print(f"{row}  {cells[0]:>26}  {cells[1]:>26}  {cells[2]:>22}  {', '.join(verdict)}")
    return figures


if __name__ == "__main__":
    run()
