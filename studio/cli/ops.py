"""`retention [--dry-run]` and `doctor`: the commands of the people who run the studio for a team."""

from __future__ import annotations

import argparse
from typing import Any

from studio.cli import output


def register(commands: Any) -> None:
    retention = commands.add_parser(
        "retention", help="delete objects and records past retention (14 days after job completion)"
    )
    retention.add_argument("--dry-run", action="store_true", help="list what has expired, delete nothing")
    retention.add_argument("--json", action="store_true", help="print the retention report on stdout")
    retention.set_defaults(handler=run_retention)
    doctor = commands.add_parser(
        "doctor", help="which backend each concern uses and why, and whether each service answers"
    )
    doctor.add_argument("--json", action="store_true", help="print the doctor's report on stdout")
    doctor.set_defaults(handler=run_doctor)


def run_retention(args: argparse.Namespace) -> int:
    from studio.operations.retention import apply_retention

    with output.open_services() as services:
        report = apply_retention(services, dry_run=args.dry_run)
    if args.json:
        output.emit_json(report)
    else:
        verb = "would delete" if report.dry_run else "deleted"
        output.line(
            f"retention {report.retention_days} days: expired before {report.cutoff:%Y-%m-%d %H:%M} UTC"
        )
        for job in report.jobs:
            records = sum(job.records.values())
            state = f"error: {job.error}" if job.error else verb
            output.line(f"  job {job.job_id}: {len(job.objects)} objects, {records} records ({state})")
        for song in report.songs:
            state = f"error: {song.error}" if song.error else verb
            output.line(f"  song {song.song_id}: {len(song.objects)} character images ({state})")
        for held in report.held_songs:
            output.line(f"  song {held.song_id} kept: {held.reason}")
        if not report.jobs and not report.songs:
            output.line("  nothing has expired")
        if not report.dry_run:
            output.line(
                f"{report.objects_deleted} objects and {report.records_deleted} records deleted; "
                "the cost ledger is kept"
            )
    for error in report.errors:
        output.error(f"retention: {error}")
    return 1 if report.errors else 0


def run_doctor(args: argparse.Namespace) -> int:
    from studio.operations.doctor import diagnose
    from studio.settings import Settings

    report = diagnose(Settings())
    if args.json:
        output.emit_json(report)
        return 0 if report.healthy else 1
    output.line(f"data dir  {report.data_dir}")
    output.line(f"database  {report.database}")
    output.line("backends")
    for backend in report.backends:
        output.line(f"  {backend.concern:<17} {backend.backend or 'REFUSED':<16} {backend.reason}")
    output.line("secrets")
    for name, state in report.secrets.items():
        output.line(f"  {name:<21} {state}")
    output.line("checks")
    width = max((len(check.name) for check in report.checks), default=0)
    for check in report.checks:
        output.line(f"  {check.status.upper():<8} {check.name:<{width}}  {check.detail}")
        if check.fix:
            output.line(f"  {'':<8} {'':<{width}}  fix: {check.fix}")
    problems = len(report.problems)
    output.line("healthy" if report.healthy else f"{problems} problem{'s' if problems > 1 else ''}")
    return 0 if report.healthy else 1
