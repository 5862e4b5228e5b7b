"""`costs JOB_ID`: a job's cost ledger against its budget, with the summaries of the Costs page."""

from __future__ import annotations

import argparse
from typing import Any

from studio.cli import output
from studio.money import usd


def register(commands: Any) -> None:
    costs = commands.add_parser("costs", help="the job's cost ledger and budget")
    costs.add_argument("job_id", metavar="JOB_ID")
    costs.add_argument("--json", action="store_true", help="print the cost report on stdout")
    costs.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from studio.costs.report import cost_report, units_words

    with output.open_services() as services:
        report = cost_report(services, args.job_id)
    if args.json:
        output.emit_json(report)
        return 0
    output.line(f"job {report.job_id}: {usd(report.total)} of a {usd(report.budget)} budget")
    for entry in report.entries:
        price = usd(entry.unit_price, exact=True)
        what = "cache hit" if entry.cache_hit else f"{units_words(entry.units, entry.unit_name)} x {price}"
        output.line(
            f"  {entry.created_at:%Y-%m-%d %H:%M:%S}  {entry.stage:<14} {entry.provider:<10} "
            f"{entry.ref or '-':<28} {usd(entry.amount, exact=True):>12}  {what}"
        )
    for group in report.by_stage_provider:
        output.line(f"{group.stage}/{group.provider}: {group.calls} calls, {usd(group.amount)}")
    per_image = usd(report.cost_per_image) if report.cost_per_image is not None else "n/a"
    output.line(f"{report.images} images stored, {per_image} per image")
    savings = report.savings
    output.line(
        f"saved {usd(savings.total)}: {savings.resumed_images} images reused on resume "
        f"({usd(savings.saved_by_resumes)}), {savings.cache_hits} cache hits ({usd(savings.saved_by_cache)})"
    )
    return 0
