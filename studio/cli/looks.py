"""`character looks` (a round of candidate looks, or `--list` of the rounds) and `character pick`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from studio.cli import output
from studio.cli.arguments import number
from studio.money import usd


def register(actions: Any) -> None:
    from studio.characters.looks import DEFAULT_LOOKS, LOOK_COUNT, MAX_LOOKS, STRENGTH

    looks = actions.add_parser(
        "looks", help="one round of candidate looks from the song's reference (or --list the rounds)"
    )
    looks.add_argument("song")
    looks.add_argument(
        "--count", type=number(LOOK_COUNT), default=DEFAULT_LOOKS,
        help=f"candidates in the round (default {DEFAULT_LOOKS}, 1-{MAX_LOOKS})",
    )  # fmt: skip
    looks.add_argument(
        "--prompt", default=None, help="the prompt (default: synthesized from the description)"
    )
    looks.add_argument(
        "--strength", type=number(STRENGTH), default=None,
        help="img2img strength, 0 (keep the image) to 1 (ignore it); default 0.8, or less with --from",
    )  # fmt: skip
    looks.add_argument(
        "--from", dest="from_look", metavar="LOOK_ID", default=None, help="more like this look"
    )
    looks.add_argument("--list", action="store_true", help="list the song's rounds and looks instead")
    looks.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    looks.set_defaults(handler=run_looks)
    pick = actions.add_parser("pick", help="make a look the song's generated image (priority 1)")
    pick.add_argument("song")
    pick.add_argument("look_id", metavar="LOOK_ID")
    pick.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    pick.set_defaults(handler=run_pick)


def _look_line(look: Any) -> str:
    where = look.key if look.status == "stored" else (look.error or look.status)
    mark = "*" if look.picked else " "
    return f"{mark} {look.id}  seed {look.seed}  strength {look.strength:g}  {usd(look.cost)}  {where}"


def run_looks(args: argparse.Namespace) -> int:
    from studio.characters.look_rounds import looks_now
    from studio.characters.looks import LooksRequest, check_request, list_looks
    from studio.cli import EXIT_FAILED, EXIT_OK
    from studio.storage.keys import check_id

    check_id("song_id", args.song)
    if args.list:
        with output.open_services() as services:
            listing = list_looks(services, args.song)
        if args.json:
            output.emit_json(listing)
            return EXIT_OK
        if not listing.rounds:
            output.line(f"{listing.song_id}: no rounds of looks yet")
        for found in listing.rounds:
            archived = " (archived)" if found.archived else ""
            output.line(
                f"round {found.round}{archived}: {found.status}, {found.origin}, {usd(found.cost)}, "
                f"prompt of {found.token_count} / 75 CLIP tokens"
            )
            for look in found.looks:
                output.line("  " + _look_line(look))
        return EXIT_OK
    ask = check_request(
        LooksRequest(
            count=int(args.count), prompt=args.prompt, strength=args.strength, from_look=args.from_look
        )
    )
    with output.open_services() as services:
        result = asyncio.run(looks_now(services, args.song, ask))
    if args.json:
        output.emit_json(result)
    else:
        output.line(f"round {result.round} of {result.song_id}: {result.status}, {usd(result.cost)}")
        for look in result.looks:
            output.line(_look_line(look))
    stored = [look for look in result.looks if look.status == "stored"]
    if not stored:
        output.error(f"every look of round {result.round} failed ({result.status})")
        return EXIT_FAILED
    if len(stored) < len(result.looks):
        output.info(
            f"{len(result.looks) - len(stored)} of {len(result.looks)} looks failed; the others are kept"
        )
    output.info(f"pick one with `python -m studio character pick {result.song_id} LOOK_ID`")
    return EXIT_OK


def run_pick(args: argparse.Namespace) -> int:
    from studio.characters.looks import pick_look
    from studio.storage.keys import check_id

    check_id("song_id", args.song)
    check_id("look_id", args.look_id)
    with output.open_services() as services:
        result = pick_look(services, args.song, args.look_id)
    if args.json:
        output.emit_json(result)
    else:
        output.line(
            f"{result.song_id}: picked {result.picked.id}; it is the generated image {result.generated_key}"
        )
    return 0
