"""A round of candidate looks on Replicate: makespan over the ideal L (every candidate in flight at once),
beside what a user would write instead, measured in the same run against the same server:

- studio: `character looks` (`looks_now`): a round planned, leased, each candidate img2img from the song's
  reference with its own seed, stamped with its provenance, stored and charged to the song as it arrives;
- naive: the official client's `async_run` under an `asyncio.Semaphore` of N, the reference sent as the init
  image, each output read and written to a file.

The project's Replicate-compatible server runs in its own process; every prediction takes L = 0.5 s.
`python -m benchmarks looks_round`.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.replicate_makespan import LATENCY, UNLIMITED_ACCOUNT, replicate_server
from studio.characters.look_rounds import looks_now
from studio.characters.looks import LooksRequest
from studio.characters.songs import apply_template
from studio.characters.templates import template_image
from studio.services import Services, build_services
from studio.settings import DEFAULT_SDXL_VERSION, Settings

COUNTS = (4, 8)
ROUNDS = 5
SONG = "bench-song"


async def _studio(services: Services, count: int) -> float:
    started = time.perf_counter()
    made = await looks_now(services, SONG, LooksRequest(count=count))
    elapsed = time.perf_counter() - started
    assert made.status == "completed" and len(made.looks) == count, made
    return elapsed


async def _naive(client: Any, init: bytes, count: int, round_: int, out: Path) -> float:
    slots = asyncio.Semaphore(count)
    image = "data:image/png;base64," + base64.b64encode(init).decode()

    async def one(n: int) -> None:
        async with slots:
            output = await client.async_run(
                f"stability-ai/sdxl:{DEFAULT_SDXL_VERSION}",
                input={
                    "prompt": "the song's lead character, full body, plain backdrop",
                    "negative_prompt": "blurry",
                    "image": image,
                    "prompt_strength": 0.8,
                    "width": 768,
                    "height": 1024,
                    "seed": 1000 * round_ + n,
                },
            )
            (out / f"naive-{round_}-{n}.png").write_bytes(await output[0].aread())

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


async def _measure(base_url: str, token: str) -> dict[int, dict[str, list[float]]]:
    import replicate

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
        client = replicate.Client(api_token=token, base_url=base_url)
        init = template_image("character-1", "pose-a")
        try:
            apply_template(services, SONG, "character-1")
            await _studio(services, 2)  # warm-up: connections, statement caches, imports
            await _naive(client, init, 2, 0, out)
            results: dict[int, dict[str, list[float]]] = {}
            for count in COUNTS:
                times: dict[str, list[float]] = {"studio": [], "naive": []}
                for round_ in range(ROUNDS):
                    times["studio"].append(await _studio(services, count))
                    times["naive"].append(await _naive(client, init, count, round_ + 1, out))
                results[count] = times
        finally:
            await services.aclose()
            services.close()
    return results


def run() -> dict[str, float]:
    with replicate_server() as (base_url, token):
        results = asyncio.run(_measure(base_url, token))
    print(f"A round of N looks / ideal L = {LATENCY} s (all N in flight at once), {ROUNDS} rounds each")
    print(f"  {'N':>3}  {'studio (median, range)':>26}  {'naive official client':>26}")
    figures: dict[str, float] = {}
    for count, times in results.items():
        cells = []
        for name in ("studio", "naive"):
            ratios = [t / LATENCY for t in times[name]]
            figures[f"{name} {count}"] = statistics.median(ratios)
            cells.append(f"{figures[f'{name} {count}']:.3f} ({min(ratios):.3f}-{max(ratios):.3f})")
        print(f"  {count:>3}  {cells[0]:>26}  {cells[1]:>26}")
    return figures


if __name__ == "__main__":
    run()
