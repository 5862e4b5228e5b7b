"""`python -m studio ...`: the headless command line QA drives. One module per command group."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from studio.cli import output
from studio.errors import (
    ConfigurationError,
    InvalidInput,
    NotFound,
    StudioError,
    Unavailable,
    debugging,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_FALLBACK = 3
EXIT_UNAPPROVED = 4
EXIT_INTERRUPTED = 130

COMMAND_MODULES = (
    "studio.cli.generate",
    "studio.cli.characters",
    "studio.cli.worker",
    "studio.cli.interrogate",
    "studio.cli.review",
    "studio.cli.costs",
    "studio.cli.ops",
    "studio.cli.api_keys",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from studio.cli.arguments import CommandLineParser

    parser = CommandLineParser(prog="python -m studio", description="Reference Studio, headless.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; failures the studio expects are one message on stderr and an exit code.

    With `--debug` (or STUDIO_DEBUG=1) the message is preceded by the traceback.
    """
    from pydantic import ValidationError

    from studio.logs import configure_logging
    from studio.settings import Settings, settings_problems

    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False)) or debugging()
    try:
        settings: Settings | None = Settings()
    except ValidationError as exc:
        settings = None
        configure_logging()
        _traceback(exc, debug)
        for problem in settings_problems(exc):
            output.error(f"configuration: {problem}")
        return EXIT_INVALID
    configure_logging(settings)
    output.configure(settings)
    try:
        return int(args.handler(args))
    except StudioError as exc:
        _traceback(exc, debug)
        code, message = said(exc)
        output.error(message)
        return code
    except KeyboardInterrupt:
        output.error("interrupted")
        return EXIT_INTERRUPTED


def said(error: StudioError) -> tuple[int, str]:
    """The exit code and the message of an error the studio raised on purpose."""
    if isinstance(error, InvalidInput):
        return EXIT_INVALID, f"invalid input: {error}"
    if isinstance(error, NotFound):
        return EXIT_INVALID, f"not found: {error}"
    if isinstance(error, ConfigurationError):
        return EXIT_FAILED, f"configuration: {error}"
    if isinstance(error, Unavailable):
        return EXIT_FAILED, f"error: {error.what}\n  what to do: {error.fix}"
    return EXIT_FAILED, f"error: {error}"


def _traceback(error: BaseException, debug: bool) -> None:
    if debug:
        output.error("".join(traceback.format_exception(error)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
