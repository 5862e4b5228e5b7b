"""Numbers are finite and in range; text carries no control character, no lone surrogate, no endless word."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from studio.errors import InvalidInput
from studio.inputs.text_and_numbers import (
    CONCURRENCY,
    POLL_SECONDS,
    SONG_SECONDS,
    song_duration,
    text_problem,
)
from studio.references.planning import budget_for
from studio.settings import Settings


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308, -1.0, 0.0, 6 * 3600 + 1])
def test_song_durations_out_of_range_are_refused_naming_the_field(value: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        song_duration(value, "--duration-seconds")
    assert caught.value.field == "--duration-seconds"
    assert "seconds, more than 0 and at most 21600" in caught.value.problem


@pytest.mark.parametrize("value", [0.5, 30, 213.4, 6 * 3600])
def test_song_durations_in_range_pass(value: float) -> None:
    assert song_duration(value) == value


def test_an_unknown_song_duration_stays_unknown() -> None:
    assert song_duration(None) is None


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e308", "0", "-3", "thirty", ""])
def test_flag_text_is_parsed_then_checked(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        SONG_SECONDS.parse("--duration-seconds", text)
    assert caught.value.field == "--duration-seconds"


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("6", 6), ("256", 256)])
def test_concurrency_is_a_whole_number_from_1_to_256(text: str, value: int) -> None:
    assert CONCURRENCY.parse("--concurrency", text) == value


@pytest.mark.parametrize("text", ["0", "257", "1.5", "1e3", "nan", "-1"])
def test_concurrency_outside_1_to_256_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="whole number of images in flight"):
        CONCURRENCY.parse("--concurrency", text)


@pytest.mark.parametrize("text", ["nan", "inf", "0", "-1", "0.001", "1e9"])
def test_poll_intervals_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        POLL_SECONDS.parse("--poll", text)


@pytest.mark.parametrize("value", [math.nan, math.inf, -5.0])
def test_budget_for_refuses_what_is_no_song_length(value: float) -> None:
    with pytest.raises(InvalidInput) as caught:
        budget_for(Settings(), value)
    assert caught.value.field == "duration_seconds"


def test_budget_for_a_known_and_an_unknown_length() -> None:
    settings = Settings()
    assert budget_for(settings, 90) == Decimal("300")
    assert budget_for(settings, None) == settings.default_job_budget


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a quiet\x00street", "control character U+0000 at position 8"),
        ("bell\x07", "control character U+0007"),
        ("del\x7f", "control character U+007F"),
        ("c1\x85", "control character U+0085"),
        ("broken \ud800 text", "lone surrogate"),
        ("x" * 101, "101-character word at position 1"),
        ("a " * 300, "600 characters long; at most 500"),
    ],
)
def test_text_problems_are_named(text: str, words: str) -> None:
    problem = text_problem(text, 500)
    assert problem is not None and words in problem


@pytest.mark.parametrize(
    "text",
    ["a quiet street", "tabs\tand\nnew lines\r\n", "x" * 100, "café, naïve, 東京の夜, emoji 🎸", ""],
)
def test_ordinary_text_passes(text: str) -> None:
    assert text_problem(text, 500) is None
