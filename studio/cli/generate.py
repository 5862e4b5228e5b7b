"""`generate PLAN.json`: reference generation for a plan file, with progress on stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from studio.cli import output
from studio.cli.arguments import number
from studio.events import Event
from studio.money import usd
from studio.plan import load_plan
from studio.values import CONCURRENCY, SONG_SECONDS


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "generate", help="generate (or resume) the reference images of a scene plan"
    )
    parser.add_argument("plan", type=Path, metavar="PLAN.json")
    parser.add_argument(
        "--concurrency", type=number(CONCURRENCY), default=None, help="images in flight (default 6, 1-256)"
    )
    parser.add_argument(
        "--duration-seconds",
        type=number(SONG_SECONDS),
        default=None,
        help="song length (at most 6 hours), sets the budget",
    )
    parser.add_argument("--json", action="store_true", help="print the ReferenceImages document on stdout")
    parser.set_defaults(handler=run)


def _progress(event: Event) -> None:
    data = event.data
    if event.type == "reference_generation_start":
        output.info(f"[{data['current_image']}/{data['total_images']}] generating {data['ref']}")
    elif event.type == "reference_generation_complete":
        how = (
            "reused (identical parameters, $0)"
            if data.get("reused")
            else f"stored, {usd(Decimal(data['cost']))}"
        )
        output.info(f"  {data['ref']}: {how}")
    elif event.type == "reference_generation_retry":
        output.info(
            f"  {data['ref']}: retry {data['attempt']} after {data['reason']} ({data['wait_seconds']} s)"
        )
    elif event.type == "reference_generation_failed":
        output.info(f"  {data['ref']}: failed: {data['error']}")


def run(args: argparse.Namespace) -> int:
    from studio.cli import EXIT_FALLBACK, EXIT_OK
    from studio.pipeline import generate_references

    plan = load_plan(args.plan)
    with output.open_services() as services:
        result = asyncio.run(
            generate_references(
                services,
                plan.job_id,
                plan,
                args.duration_seconds,
                _progress,
                concurrency=args.concurrency,
            )
        )
        job = services.records.get_job(str(plan.job_id))
    assert job is not None
    if result is None:
        output.error(
            f"job {plan.job_id}: the partial-success rule failed ({job.failure_reason}); "
            "clip generation falls back to text-only prompts"
        )
        if args.json and job.result_json:
            output.emit_json(json.loads(job.result_json))
        return EXIT_FALLBACK
    if args.json:
        output.emit_json(result)
        return EXIT_OK
    reused = sum(r.reused for r in [*result.scene_references, *result.character_references])
    output.line(f"job {result.job_id}: {result.status}")
    for ref in [*result.scene_references, *result.character_references]:
        name = f"scene {ref.scene_id}" if ref.scene_id else f"character {ref.character_id}"
        note = "reused" if ref.reused else f"{ref.generation_time:.2f} s"
        output.line(f"  {name:<28} seed {ref.seed:<10} {usd(ref.cost):>10}  {note}")
    output.line(
        f"{result.total_references} references, {reused} reused, total {usd(result.total_cost)}, "
        f"wall {result.total_generation_time:.2f} s, model {result.metadata.model_version}"
    )
    return EXIT_OK
