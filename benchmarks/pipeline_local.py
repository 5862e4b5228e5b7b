"""Pipeline overhead with local backends for 200 references: ms/image beyond rendering, and peak RSS.

Overhead is measured with a generator that returns an already rendered 1024x1024 PNG at once, so what is
left is the pipeline's own work: prompts, records, events, parameters chunk, storage writes. Each figure comes
from a fresh subprocess so peak RSS is that run's own.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from benchmarks.plans import synthetic_plan
from studio.generation.base import GeneratedImage, GenerationRequest, PredictionListener, WithoutPredictions
from studio.generation.local import LocalImageGenerator

N = 200


class PrerenderedGenerator(WithoutPredictions):
    """Returns one rendered PNG for every request: the pipeline's cost without the renderer's."""

    name = "prerendered"
    model_version = "prerendered-1"

    def __init__(self, png: bytes) -> None:
        self.png = png

    def max_cost(self, request: GenerationRequest) -> Decimal:
        return Decimal("0")

    def estimated_cost(self, request: GenerationRequest) -> Decimal:
        return Decimal("0")

    async def generate(
        self, request: GenerationRequest, on_prediction: PredictionListener | None = None
    ) -> GeneratedImage:
        return GeneratedImage(self.png, "image/png", self.name, self.model_version, Decimal("0"))

    async def aclose(self) -> None:
        return None


def _measure(mode: str) -> dict[str, float]:
    import dataclasses

    from studio.references.jobs import generate_references
    from studio.services import build_services
    from studio.settings import Settings

    plan = synthetic_plan(N)
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings(data_dir=Path(tmp)))
        local = LocalImageGenerator()
        if mode == "render":
            sample = [p for p in _requests(plan, services)]
            start, cpu_start = time.perf_counter(), time.process_time()
            for request in sample:
                asyncio.run(local.generate(request))
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
        else:
            if mode == "overhead":
                first = _requests(plan, services)[0]
                png = asyncio.run(local.generate(first)).data
                services = dataclasses.replace(services, generator=PrerenderedGenerator(png))
            start, cpu_start = time.perf_counter(), time.process_time()
            result = asyncio.run(generate_references(services, plan.job_id, plan))
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            assert result is not None and result.total_references == N
        services.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "ms_per_image": elapsed / N * 1000,
        "cpu_ms_per_image": cpu / N * 1000,
        "seconds": elapsed,
        "peak_rss_mb": peak_mb,
    }


def _requests(plan, services):  # type: ignore[no-untyped-def]
    from studio.references.planning import plan_references

    return [p.request for p in plan_references(plan, services.generator)]


def run() -> dict[str, dict[str, float]]:
    figures = {}
    for mode in ("overhead", "render", "full"):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.pipeline_local", mode],
            capture_output=True,
            text=True,
            check=True,
        )
        figures[mode] = json.loads(out.stdout)
    print(f"pipeline with local backends, {N} references (1024x1024 PNG each)")
    print(
        f"  pipeline overhead (prerendered images): {figures['overhead']['ms_per_image']:.2f} ms/image wall, "
        f"{figures['overhead']['cpu_ms_per_image']:.2f} ms/image CPU (target <= 2.5), "
        f"peak RSS {figures['overhead']['peak_rss_mb']:.0f} MB"
    )
    print(f"  local renderer alone:                   {figures['render']['ms_per_image']:.1f} ms/image")
    print(
        f"  full run (render + pipeline):           {figures['full']['ms_per_image']:.1f} ms/image, "
        f"{figures['full']['seconds']:.1f} s, peak RSS {figures['full']['peak_rss_mb']:.0f} MB "
        "(target <= 250)"
    )
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(_measure(sys.argv[1])))
    else:
        run()
