"""How the command line reads its arguments: numbers that are finite and in range, and clear words for an
id that argparse took for an option (`character upload -x img.png`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from studio.errors import InvalidInput
from studio.inputs.text_and_numbers import NumberRange

_ID_RULE = "ids start with a letter or digit and hold letters, digits, '-' and '_' (at most 64 characters)"


def number(allowed: NumberRange) -> Callable[[str], float]:
    """An argparse `type=` refusing NaN, infinities and values out of range; argparse names the flag."""

    def parse(text: str) -> float:
        try:
            return allowed.parse("value", text)
        except InvalidInput as error:
            raise argparse.ArgumentTypeError(error.problem) from None

    return parse


def _option_like(token: str) -> bool:
    return token.startswith("-") and token != "-" and not token.lstrip("-").replace(".", "", 1).isdigit()


class CommandLineParser(argparse.ArgumentParser):
    """argparse, except that a stray `-x` where an id belongs is named as such instead of "X is required";
    every command (and the program itself) takes `--debug`."""

    _given: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="on a failure, print the traceback too (also STUDIO_DEBUG=1)",
        )

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _stray(self, message: str) -> str | None:
        if message.startswith("unrecognized arguments: "):
            listed = message.removeprefix("unrecognized arguments: ").split()
            return next((token for token in listed if _option_like(token)), None)
        if not message.startswith("the following arguments are required"):
            return None
        given = getattr(self, "_given", [])
        options = given[: given.index("--")] if "--" in given else given
        known = self._option_string_actions
        return next((t for t in options if _option_like(t) and t.split("=", 1)[0] not in known), None)

    def error(self, message: str) -> NoReturn:
        stray = self._stray(message)
        if stray is not None:
            message = f"{stray!r} is not an option of this command, and not an id: {_ID_RULE}"
        super().error(message)
