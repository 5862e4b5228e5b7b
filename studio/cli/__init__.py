"""`python -m studio ...`: the headless command line QA drives. One module per command group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from studio.cli import output
from studio.errors import ConfigurationError, InvalidInput, NotFound, StudioError

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
    from pydantic import ValidationError

    from studio.logs import configure_logging
    from studio.settings import Settings, settings_problems

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings: Settings | None = Settings()
    except ValidationError as exc:
        settings = None
        configure_logging()
        for problem in settings_problems(exc):
            output.error(f"configuration: {problem}")
        return EXIT_INVALID
    configure_logging(settings)
    output.configure(settings)
    try:
        return int(args.handler(args))
    except InvalidInput as exc:
        output.error(f"invalid input: {exc}")
        return EXIT_INVALID
    except NotFound as exc:
        output.error(f"not found: {exc}")
        return EXIT_INVALID
    except ConfigurationError as exc:
        output.error(f"configuration: {exc}")
        return EXIT_FAILED
    except StudioError as exc:
        output.error(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
