"""Run every benchmark, or the ones named: `python -m benchmarks pipeline_local replicate_makespan`."""

from __future__ import annotations

import importlib
import sys

ALL = [
    "pipeline_local",
    "render_local",
    "replicate_makespan",
    "looks_round",
    "workers_throughput",
    "rate_limits",
    "app_start",
    "api_latency",
]

names = sys.argv[1:] or ALL
for name in names:
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        print(f"{name}: not available ({exc})")
        continue
    print(f"== {name}")
    module.run()
    print()
