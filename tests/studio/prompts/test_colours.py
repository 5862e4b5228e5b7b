from __future__ import annotations

import pytest

from studio.errors import InvalidInput
from studio.prompts.colours import NAMED_COLOURS, colour_name, hex_to_rgb, palette_words


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("#FF7A59", "coral"),
        ("FF2E88", "hot pink"),
        ("#00E5FF", "cyan"),
        ("#1B1B2F", "midnight blue"),
        ("#FFD166", "golden yellow"),
        ("#000", "black"),
        ("#ffffff", "white"),
        ("#2A9D8F", "teal"),
    ],
)
def test_nearest_named_colour(value: str, name: str) -> None:
    assert colour_name(value) == name


def test_every_table_colour_names_itself() -> None:
    assert 30 <= len(NAMED_COLOURS) <= 60
    for name, rgb in NAMED_COLOURS.items():
        assert colour_name(rgb) == name


def test_hex_parsing_and_errors() -> None:
    assert hex_to_rgb("#F75") == (0xFF, 0x77, 0x55)
    with pytest.raises(InvalidInput) as caught:
        hex_to_rgb("#GG0000")
    assert caught.value.field == "color_palette"


def test_palette_words_keep_order_and_say_each_name_once() -> None:
    assert palette_words(["#FF2E88", "#FF2D87", "#00E5FF"]) == ["hot pink", "cyan"]
    assert palette_words([]) == []
