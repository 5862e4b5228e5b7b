"""Numbers and text from outside (flags, forms, plan files), checked before they are used or stored.

`float()`, `json` and pydantic all accept `nan`, `inf` and `1e308`; a NaN budget compares false with
everything and an infinite wait never ends. Text may carry NUL (which PostgreSQL refuses), lone surrogates
(which no encoder writes) or one 400,000-character word (which the renderer and CLIP's tokenizer choke on).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from studio.errors import InvalidInput

MAX_WORD_CHARS = 100
"""Longer than any word, hashtag or handle a prompt needs; what BPE and text layout handle quickly."""

_FORBIDDEN_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class NumberRange:
    """A finite number between `low` and `high` (both included unless `low_open`), in `unit`."""

    low: float
    high: float
    unit: str
    low_open: bool = False
    whole: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        low = f"more than {self.low:g}" if self.low_open else f"at least {self.low:g}"
        return f"{kind} of {self.unit}, {low} and at most {self.high:g}"

    def problem(self, value: float) -> str | None:
        """Why `value` is out of range, or None when it is in."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be {self.describe()}"
        if not math.isfinite(value):
            return f"must be {self.describe()}, not {value}"
        if self.whole and value != int(value):
            return f"must be {self.describe()}, not {value:g}"
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or value > self.high:
            return f"must be {self.describe()}, not {value:g}"
        return None

    def check(self, field: str, value: float) -> float:
        """`value` when it is in range, else InvalidInput naming `field`."""
        problem = self.problem(value)
        if problem:
            raise InvalidInput(field, problem)
        return value

    def parse(self, field: str, text: str) -> float:
        """A flag's or a form's text as a number in range; anything else is InvalidInput naming `field`."""
        try:
            value: float = int(text) if self.whole else float(text)
        except ValueError:
            raise InvalidInput(field, f"must be {self.describe()}, not {text!r}") from None
        return self.check(field, value)


SONG_SECONDS = NumberRange(0, 6 * 3600, "seconds", low_open=True)
"""A song's length: it sets the job's budget (minutes x the budget per minute)."""
CONCURRENCY = NumberRange(1, 256, "images in flight", whole=True)
POLL_SECONDS = NumberRange(0.05, 3600, "seconds")
"""How long a worker waits between polls of an empty queue."""


def song_duration(value: float | None, field: str = "duration_seconds") -> float | None:
    """A song length in seconds, or None (unknown); NaN, infinities, zero and negatives are refused."""
    return None if value is None else SONG_SECONDS.check(field, value)


def text_problem(value: str, max_chars: int, max_word_chars: int = MAX_WORD_CHARS) -> str | None:
    """Why `value` cannot be stored and rendered as it is, or None: too long, a control character, a
    lone surrogate, or a word longer than `max_word_chars`. Tabs and line breaks are allowed."""
    if len(value) > max_chars:
        return f"is {len(value):,} characters long; at most {max_chars:,} are allowed"
    bad = _FORBIDDEN_CHARACTER.search(value)
    if bad:
        code = ord(bad.group())
        what = "a broken character (lone surrogate)" if 0xD800 <= code <= 0xDFFF else "a control character"
        return f"contains {what} U+{code:04X} at position {bad.start() + 1}; remove it"
    long_word = re.search(rf"\S{{{max_word_chars + 1},}}", value)
    if long_word:
        length = len(long_word.group())
        return (
            f"has a {length:,}-character word at position {long_word.start() + 1}; "
            f"words may be at most {max_word_chars} characters"
        )
    return None


def check_text(field: str, value: str, max_chars: int) -> str:
    """`value` when `text_problem` finds nothing, else InvalidInput naming `field`."""
    problem = text_problem(value, max_chars)
    if problem:
        raise InvalidInput(field, problem)
    return value
