"""`character describe`: the creator's edits of a song's character description, as the Characters page
makes them; what later prompts (the consistency job's, new rounds of looks') are made from."""

from __future__ import annotations

import argparse
from typing import Any

from studio.cli import output

OPTIONS = {"description": "character_description", "prompt": "prompt", "style": "style_notes"}
"""Option name -> the description's field it edits."""


def register(actions: Any) -> None:
    describe = actions.add_parser(
        "describe", help="show or edit the song's character description (kept apart from the interrogation)"
    )
    describe.add_argument("song")
    describe.add_argument("--description", default=None, help="the character's description, in your words")
    describe.add_argument("--prompt", default=None, help="the detailed prompt")
    describe.add_argument("--style", default=None, help="the style notes")
    describe.add_argument(
        "--reset", action="store_true", help="drop every edit first: the fields read as interrogated again"
    )
    describe.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    describe.set_defaults(handler=run_describe)


def run_describe(args: argparse.Namespace) -> int:
    from studio.characters.descriptions import CharacterDescription, describe, revert, save_edits
    from studio.errors import InvalidInput, NotFound
    from studio.storage.keys import check_id

    check_id("song_id", args.song)
    changes = {field: getattr(args, option) for option, field in OPTIONS.items()}
    changes = {field: text for field, text in changes.items() if text is not None}
    found: CharacterDescription | None
    with output.open_services() as services:
        if services.records.songs.song(args.song) is None:
            raise NotFound(f"song {args.song!r}")
        if changes:
            found = save_edits(services, args.song, changes, reset=args.reset)
        else:
            found = revert(services, args.song) if args.reset else describe(services, args.song)
    if found is None:
        if changes or args.reset:
            raise InvalidInput("song_id", f"{args.song!r} has no interrogation to edit yet")
        output.line(f"{args.song}: nothing describes the character yet (upload pose A or apply a template)")
        return 0
    if args.json:
        output.emit_json(found)
        return 0
    edited = " (edited)" if found.edited else ""
    output.line(f"{found.song_id}: described by {found.source} ({found.model}){edited}")
    for field in found.fields:
        mark = " (edited)" if field.edited else ""
        output.line(f"  {field.label}{mark}: {field.text}")
    for note in found.notes:
        output.line(f"  note: {note}")
    output.line(f"consistent-character prompt ({found.token_count} / {found.token_limit} CLIP tokens):")
    output.line(f"  {found.consistent_prompt}")
    if found.left_out:
        output.line(f"  left out: {'; '.join(found.left_out)}")
    return 0
