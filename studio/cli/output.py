"""How the CLI speaks: `--json` puts one document on stdout and nothing else; messages go to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from studio.logs import Redactor, secret_values
from studio.services import Services, build_services
from studio.settings import Settings

_redactor = Redactor()


def configure(settings: Settings | None) -> None:
    """Hide this configuration's secrets in every message (main() calls it once per command)."""
    _redactor.set_secrets(secret_values(settings))


def _redacted(message: str) -> str:
    """CLI messages skip logging, so they get the same redaction here: no key or URL token is ever printed."""
    return _redactor.redact(message)


def error(message: str) -> None:
    print(_redacted(message), file=sys.stderr)


def info(message: str) -> None:
    print(_redacted(message), file=sys.stderr)


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


@contextmanager
def open_services() -> Iterator[Services]:
    """The services a command works with, built from the environment and closed when it is done."""
    built = build_services(Settings())
    try:
        yield built
    finally:
        built.close()
