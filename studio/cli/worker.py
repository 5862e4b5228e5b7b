"""`worker [--once]`: run queued work (reference jobs, character consistency jobs) until stopped."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from studio.cli import output
from studio.cli.arguments import number
from studio.values import POLL_SECONDS
from studio.worker import drain, serve


def register(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="run queued jobs (reference generation, character consistency)"
    )
    worker.add_argument("--once", action="store_true", help="run what is queued, then exit")
    worker.add_argument(
        "--poll", type=number(POLL_SECONDS), default=2.0, help="seconds between polls of an empty queue"
    )
    worker.set_defaults(handler=run)


async def _serve_until_signalled(services: Any, poll: float) -> None:
    """SIGTERM or SIGINT stops taking new work; what is running finishes (its leases stay valid meanwhile)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    output.info("worker: waiting for queued work (SIGTERM or Ctrl-C stops after the work in hand)")
    await serve(services, stop, poll)


def run(args: argparse.Namespace) -> int:
    with output.open_services() as services:
        if args.once:
            ran = asyncio.run(drain(services))
            output.info(f"worker: {ran} job(s) run, queue empty")
        else:
            asyncio.run(_serve_until_signalled(services, args.poll))
            output.info("worker stopped")
    return 0
