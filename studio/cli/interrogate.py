"""`interrogate IMAGE`: describe the character in an image file with the configured interrogators."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from studio.characters.images import MAX_UPLOAD_BYTES, prepare_character_image
from studio.cli import output
from studio.errors import GenerationError
from studio.inputs.files import read_file
from studio.interrogation.base import Interrogation, Interrogator
from studio.interrogation.chain import interrogate_with_fallback
from studio.money import usd
from studio.settings import Settings


class InterrogationOutput(BaseModel):
    """What `interrogate --json` prints: exactly DESIGN.md's keys."""

    prompt: str
    character_description: str
    style_notes: str
    source: str
    model: str


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "interrogate", help="describe the character in an image (prompt, description, style notes)"
    )
    parser.add_argument("image", type=Path, metavar="IMAGE", help="a PNG, JPEG or WebP file")
    parser.add_argument(
        "--json", action="store_true", help="print {prompt, character_description, ...} on stdout"
    )
    parser.set_defaults(handler=run)


def read_image(path: Path) -> tuple[bytes, str]:
    """The file re-encoded clean, and its content type; anything else is InvalidInput naming IMAGE."""
    data = read_file(path, MAX_UPLOAD_BYTES, "IMAGE")
    image = prepare_character_image(data, field=f"IMAGE {path}")
    return image.data, image.content_type


def _fell_back(interrogator: Interrogator, error: GenerationError) -> None:
    output.info(f"{interrogator.name} failed ({error.reason}): {error}; trying the next interrogator")


def run(args: argparse.Namespace) -> int:
    from studio.cli import EXIT_OK

    data, content_type = read_image(args.image)
    from studio.backends import build_interrogators
    from studio.clients import Clients

    settings = Settings()
    clients = Clients(settings)
    interrogators, choice = build_interrogators(settings, clients)
    output.info(f"interrogators: {choice.backend} ({choice.reason})")

    async def ask() -> Interrogation:
        try:
            return await interrogate_with_fallback(interrogators, data, content_type, _fell_back)
        finally:
            await clients.aclose()

    result = asyncio.run(ask())
    for note in result.notes:
        output.info(f"note: {note}")
    if args.json:
        output.emit_json(InterrogationOutput.model_validate(result.model_dump()))
        return EXIT_OK
    output.line(f"source:      {result.source} ({result.model}), cost {usd(result.cost)}")
    output.line(f"description: {result.character_description}")
    output.line(f"style notes: {result.style_notes}")
    output.line(f"prompt:      {result.prompt}")
    return EXIT_OK
