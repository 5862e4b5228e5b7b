"""How the CLI speaks: `--json` puts one document on stdout and nothing else; messages go to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel

from studio.services import Services, build_services
from studio.settings import Settings


def error(message: str) -> None:
    print(message, file=sys.stderr)


def info(message: str) -> None:
    print(message, file=sys.stderr)


def emit_json(document: BaseModel | dict[str, Any] | list[Any]) -> None:
    if isinstance(document, BaseModel):
        text = document.model_dump_json(indent=2)
    else:
        text = json.dumps(document, indent=2, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def line(text: str = "") -> None:
    """Human output of a command run without --json."""
    print(text)


def services() -> Services:
    return build_services(Settings())
