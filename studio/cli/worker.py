"""`worker [--once]`: run queued work (reference jobs, character consistency jobs) until stopped."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from studio.cli import output
from studio.cli.arguments import number
from studio.inputs.text_and_numbers import POLL_SECONDS
from studio.plans.catalog import counted
from studio.services import Services
from studio.work.runner import drain_all, serve


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="run queued jobs (reference generation, character consistency)"
    )
    worker.add_argument(
        "--once",
        action="store_true",
        help="run what is queued (and what a crashed worker left, once its lease runs out), then exit",
    )
    worker.add_argument(
        "--poll", type=number(POLL_SECONDS), default=2.0, help="seconds between polls of an empty queue"
    )
    worker.set_defaults(handler=run)


async def _work(services: Services, once: bool, poll: float) -> int:
    """SIGTERM or SIGINT stops taking work; a reference job in hand goes back to the queue at once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if once:
            return await drain_all(services, stop, poll)
        output.info(
            "worker: waiting for queued work (SIGTERM or Ctrl-C stops it; work in hand is handed back)"
        )
        await serve(services, stop, poll)
        return 0
    finally:
        await services.aclose()


def run(args: argparse.Namespace) -> int:
    with output.open_services() as services:
        ran = asyncio.run(_work(services, args.once, args.poll))
    output.info(f"worker: {counted(ran, 'job')} run, queue empty" if args.once else "worker stopped")
    return 0
