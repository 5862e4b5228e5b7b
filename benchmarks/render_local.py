"""Offline preview rendering: ms/image for the `local` generator (draw + PNG encode), and prompt synthesis.

`python -m benchmarks render_local`: renders every reference of the shared sample plans several times.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from studio.generation.base import GenerationRequest
from studio.generation.local import render_preview
from studio.generation.seeds import reference_seed
from studio.plans.scene_plan import load_plan
from studio.prompts import count_tokens, synthesize

PLANS = Path(__file__).resolve().parents[1] / "tests" / "data" / "plans"
ROUNDS = 5


def run() -> None:
    requests: list[GenerationRequest] = []
    count_tokens("warm up")
    started = time.perf_counter()
    for path in sorted(PLANS.glob("*.json")):
        plan = load_plan(path)
        for prompt in synthesize(plan):
            requests.append(
                GenerationRequest(
                    prompt=prompt.prompt,
                    negative_prompt=prompt.negative_prompt,
                    seed=reference_seed(str(plan.job_id), prompt.ref),
                    kind=prompt.kind,
                    subject=prompt.subject,
                    palette=prompt.palette,
                    label=prompt.ref,
                )
            )
    synth_ms = (time.perf_counter() - started) * 1000 / len(requests)
    timings: dict[str, list[float]] = {"scene": [], "character": []}
    for _ in range(ROUNDS):
        for request in requests:
            started = time.perf_counter()
            render_preview(request)
            timings[request.kind].append((time.perf_counter() - started) * 1000)
    print(f"prompt synthesis: {synth_ms:.2f} ms/reference over {len(requests)} references")
    for kind, values in timings.items():
        ordered = sorted(values)
        print(
            f"render {kind}: median {statistics.median(ordered):.1f} ms, "
            f"p95 {ordered[int(len(ordered) * 0.95) - 1]:.1f} ms over {len(ordered)} images"
        )


if __name__ == "__main__":
    run()
