"""Ids that become storage keys and CLI arguments: letters, digits, '-' and '_', first a letter or digit."""

from __future__ import annotations

import pytest

from studio.errors import InvalidInput
from studio.storage.keys import check_id, safe_id_problem, suggested_id


@pytest.mark.parametrize("value", ["a", "7", "midnight-drive", "song_2", "A" * 64, "x-", "x_"])
def test_safe_ids_pass(value: str) -> None:
    assert safe_id_problem(value) is None
    assert check_id("song_id", value) == value


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-x", "'-x' must start with a letter or digit"),
        ("--json", "'--json' must start with a letter or digit"),
        ("_hidden", "'_hidden' must start with a letter or digit"),
        ("", "must not be empty"),
        ("a" * 65, "is 65 characters long; at most 64 are allowed"),
        ("../x", "may only contain letters, digits"),
        ("a b", "may only contain letters, digits"),
        ("caf\u00e9", "may only contain letters, digits"),
        ("a\u0000", "may only contain letters, digits"),
    ],
)
def test_unsafe_ids_are_refused_with_the_reason(value: str, words: str) -> None:
    problem = safe_id_problem(value)
    assert problem is not None and words in problem
    with pytest.raises(InvalidInput) as caught:
        check_id("song_id", value)
    assert caught.value.field == "song_id"


@pytest.mark.parametrize(
    ("title", "suggested"),
    [
        ("Midnight Drive", "midnight-drive"),
        ("Café del Mar!", "cafe-del-mar"),
        ("  --Rain__on  Glass-- ", "rain-on-glass"),
        ("夜", None),
    ],
)
def test_a_title_suggests_an_id(title: str, suggested: str | None) -> None:
    assert suggested_id(title) == suggested


def test_a_refused_title_says_which_id_to_use_instead() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_id("song_id", "Midnight Drive")
    assert refused.value.field == "song_id" and "try 'midnight-drive'" in refused.value.problem
