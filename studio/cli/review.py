"""`review JOB_ID (--approve REF [--approve REF ...] | --reject REF --reason TEXT)` and `export JOB_ID`: the
review gate."""

from __future__ import annotations

import argparse
from typing import Any

from studio.cli import output
from studio.errors import InvalidInput


def register(commands: Any) -> None:
    review = commands.add_parser("review", help="record a review decision on a reference's latest version")
    review.add_argument("job_id", metavar="JOB_ID")
    decision = review.add_mutually_exclusive_group(required=True)
    decision.add_argument(
        "--approve",
        metavar="REF",
        action="append",
        help="approve scene_<id> or character_<id>; repeat it to approve several at once (all or none)",
    )
    decision.add_argument("--reject", metavar="REF", action="append", help="reject it (needs --reason)")
    review.add_argument("--reason", default=None, help="why the image is rejected (required with --reject)")
    review.add_argument(
        "--reviewer",
        default=None,
        help="the local operator's label, recorded in the audit trail as typed at the command line (not a "
        "signed-in identity); default: $USER, else anonymous",
    )
    review.add_argument("--json", action="store_true", help="print the recorded decision on stdout")
    review.set_defaults(handler=run_review)

    export = commands.add_parser(
        "export", help="manifest of the approved references (signed URLs, prompts, seeds) for clip generation"
    )
    export.add_argument("job_id", metavar="JOB_ID")
    export.add_argument("--refresh", action="store_true", help="sign fresh URLs (they always are)")
    export.add_argument(
        "--allow-preview", action="store_true", help="export offline previews too (refused without it)"
    )
    export.add_argument("--json", action="store_true", help="print the manifest on stdout")
    export.set_defaults(handler=run_export)


def run_review(args: argparse.Namespace) -> int:
    from studio.review.gate import approve, approve_many, reject

    if args.approve is not None and args.reason is not None:
        raise InvalidInput("--reason", "only goes with --reject")
    if args.reject is not None and len(args.reject) > 1:
        raise InvalidInput("--reject", "one reference at a time: each rejection needs its own reason")
    if args.reject is not None and not (args.reason or "").strip():
        raise InvalidInput("--reason", "a rejection needs a reason (what is wrong with the image)")
    with output.open_services() as services:
        if args.approve is not None and len(args.approve) > 1:
            decisions = approve_many(services, args.job_id, list(dict.fromkeys(args.approve)), args.reviewer)
        elif args.approve is not None:
            decisions = [approve(services, args.job_id, args.approve[0], args.reviewer)]
        else:
            decisions = [reject(services, args.job_id, args.reject[0], args.reason, args.reviewer)]
    if args.json:
        several = [d.model_dump(mode="json") for d in decisions]
        output.emit_json(decisions[0] if len(decisions) == 1 else several)
    else:
        for decision in decisions:
            why = f": {decision.reason}" if decision.reason else ""
            output.line(f"{decision.ref} v{decision.version} {decision.decision} by {decision.reviewer}{why}")
    who = decisions[0].reviewer
    output.info(f"recorded as decided by {who}: the local operator's label, not a signed-in identity")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from studio.cli import EXIT_OK, EXIT_UNAPPROVED
    from studio.review.export import NotApproved, PreviewsRefused, export_manifest

    try:
        with output.open_services() as services:
            manifest = export_manifest(services, args.job_id, allow_preview=args.allow_preview)
    except PreviewsRefused as exc:
        output.error(f"export refused: {exc}")
        return EXIT_UNAPPROVED
    except NotApproved as exc:
        output.error(f"export refused: job {exc.job_id} has references that are not approved:")
        for name, status in exc.refs.items():
            output.error(f"  {name}: {status}")
        return EXIT_UNAPPROVED
    if args.json:
        output.emit_json(manifest)
        return EXIT_OK
    count = len(manifest.references)
    output.line(f"job {manifest.job_id}: {count} approved references, exported by {manifest.exported_by}")
    for ref in manifest.references:
        output.line(f"  {ref.ref:<28} v{ref.version}  seed {ref.seed:<10} {ref.url}")
    if manifest.character is None:
        output.line("character: no song linked to this job")
    elif manifest.character.primary is None:
        output.line(f"character: song {manifest.character.song_id} has no images ({manifest.character.note})")
    else:
        output.line(f"character: {manifest.character.primary.source} {manifest.character.primary.url}")
    return EXIT_OK
