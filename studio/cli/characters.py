"""`templates` and `character upload|template|generate|resolve|consistency|model` (`looks`, `pick`: cli.looks;
`describe`: cli.descriptions)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from studio.characters.images import MAX_UPLOAD_BYTES
from studio.cli import descriptions, looks, output
from studio.inputs.files import read_file


def register(commands: Any) -> None:
    templates = commands.add_parser("templates", help="list the template characters")
    templates.add_argument("--json", action="store_true", help="print the template list on stdout")
    templates.set_defaults(handler=run_templates)

    character = commands.add_parser(
        "character", help="a song's character: upload, template, describe, generate, looks, pick, resolve"
    )
    actions = character.add_subparsers(dest="action", required=True, metavar="ACTION")
    upload = actions.add_parser("upload", help="store a custom character image (pose A queues the job)")
    upload.add_argument("song")
    upload.add_argument("image", type=Path)
    upload.add_argument("--pose", default="A", help="A (default) or B")
    template = actions.add_parser("template", help="apply a template character (no interrogation, no job)")
    template.add_argument("song")
    template.add_argument("template_id", metavar="TEMPLATE_ID")
    generate = actions.add_parser("generate", help="run the song's consistency job now, in the foreground")
    generate.add_argument("song")
    resolve = actions.add_parser("resolve", help="the ordered character images with rank, source and reason")
    resolve.add_argument("song")
    consistency = actions.add_parser("consistency", help="turn character consistency on or off for a song")
    consistency.add_argument("song")
    consistency.add_argument("state", choices=("on", "off"))
    model = actions.add_parser("model", help="show or set the song's character model (looks, lead character)")
    model.add_argument("song")
    model.add_argument("model", nargs="?", metavar="MODEL", help="sdxl (default), google/nano-banana-2, ...")
    handlers = ((upload, run_upload), (template, run_template), (generate, run_generate),
                (resolve, run_resolve), (consistency, run_consistency), (model, run_model))  # fmt: skip
    for sub, handler in handlers:
        sub.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        sub.set_defaults(handler=handler)
    looks.register(actions)
    descriptions.register(actions)


def run_templates(args: argparse.Namespace) -> int:
    from studio.characters.templates import list_templates

    listing = list_templates()
    if args.json:
        output.emit_json(listing)
        return 0
    for template in listing.templates:
        output.line(f"{template.id}  {template.name}: {template.description}")
        for pose in template.poses:
            output.line(f"    {pose.id}: {pose.key}")
    return 0


def run_upload(args: argparse.Namespace) -> int:
    from studio.characters.songs import check_pose, upload_character_image
    from studio.storage.keys import check_id

    check_id("song_id", args.song)
    check_pose(args.pose)
    data = read_file(args.image, MAX_UPLOAD_BYTES, "image")
    with output.open_services() as services:
        result = upload_character_image(services, args.song, data, args.pose)
    if args.json:
        output.emit_json(result)
    else:
        output.line(
            f"stored pose {result.pose} at {result.key} "
            f"({result.content_type}, {result.width}x{result.height})"
        )
    if result.job_id:
        output.info(f"queued consistency job {result.job_id}; run `python -m studio worker --once` to run it")
    if result.cleared_generated or result.superseded_jobs:
        output.info(
            f"cleared the old generated image: {result.cleared_generated}; "
            f"superseded jobs: {result.superseded_jobs}"
        )
    return 0


def run_template(args: argparse.Namespace) -> int:
    from studio.characters.songs import apply_template

    with output.open_services() as services:
        result = apply_template(services, args.song, args.template_id)
    if args.json:
        output.emit_json(result)
    else:
        output.line(f"applied {result.template_id}: {result.reference_key}, {result.pose_b_key}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from studio.characters.consistency import generate_now
    from studio.cli import EXIT_FAILED, EXIT_FALLBACK, EXIT_OK
    from studio.storage.keys import check_id

    check_id("song_id", args.song)
    with output.open_services() as services:
        result = asyncio.run(generate_now(services, args.song))
    if args.json:
        output.emit_json(result)
    else:
        output.line(f"consistency job {result.job_id}: {result.status}: {result.reason}")
        if result.generated_key:
            output.line(f"generated image: {result.generated_key}")
    if result.status == "completed":
        return EXIT_OK
    if result.status == "skipped":
        output.info(f"skipped: {result.reason}")
        return EXIT_FALLBACK
    output.error(f"{result.status}: {result.reason}")
    return EXIT_FAILED


def run_resolve(args: argparse.Namespace) -> int:
    from studio.characters.priority import resolve

    with output.open_services() as services:
        result = resolve(services, args.song)
    if args.json:
        output.emit_json(result)
        return 0
    if not result.images:
        output.line(f"{result.song_id}: no character images ({result.note})")
    for image in result.images:
        marker = "*" if result.primary and image.key == result.primary.key else " "
        output.line(f"{marker} {image.rank}. {image.source}: {image.key}\n     {image.reason}")
    return 0


def run_consistency(args: argparse.Namespace) -> int:
    from studio.characters.songs import set_consistency_enabled
    from studio.storage.keys import check_id

    check_id("song_id", args.song)
    with output.open_services() as services:
        set_consistency_enabled(services, args.song, args.state == "on")
    if args.json:
        output.emit_json({"song_id": args.song, "character_consistency_enabled": args.state == "on"})
    else:
        output.line(f"{args.song}: character consistency {args.state}")
    return 0


def run_model(args: argparse.Namespace) -> int:
    from studio.characters.character_models import set_model, show_model
    from studio.generation.models import image_model
    from studio.storage.keys import check_id

    check_id("song_id", args.song)
    if args.model is not None:
        image_model(args.model, "model")
    with output.open_services() as services:
        if args.model is None:
            result = show_model(services, args.song)
        else:
            result = set_model(services, args.song, args.model)
    if args.json:
        output.emit_json(result)
        return 0
    output.line(f"{result.song_id}: character model {result.model}: {result.label}")
    if not result.reproducible:
        output.info(f"{result.model} takes no seed: its images cannot be remade exactly")
    return 0
