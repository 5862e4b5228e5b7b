"""Hex colours named in words: SDXL's text encoders read words, not `#FF7A59`."""

from __future__ import annotations

import functools

from studio.errors import InvalidInput

NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (10, 10, 10),
    "charcoal": (54, 57, 64),
    "slate grey": (112, 128, 144),
    "grey": (128, 128, 128),
    "silver": (192, 192, 196),
    "white": (250, 250, 250),
    "ivory": (255, 250, 228),
    "cream": (245, 235, 200),
    "beige": (222, 205, 170),
    "tan": (200, 165, 115),
    "brown": (130, 80, 45),
    "chocolate brown": (80, 45, 25),
    "maroon": (110, 10, 30),
    "burgundy": (140, 25, 55),
    "crimson": (210, 20, 60),
    "red": (225, 30, 30),
    "coral": (255, 125, 90),
    "salmon pink": (250, 150, 135),
    "peach": (255, 205, 165),
    "apricot": (245, 165, 95),
    "orange": (255, 140, 0),
    "burnt orange": (205, 85, 20),
    "amber": (255, 190, 0),
    "gold": (212, 175, 55),
    "golden yellow": (255, 205, 95),
    "mustard": (205, 170, 40),
    "yellow": (255, 235, 30),
    "olive": (120, 120, 30),
    "lime green": (160, 225, 40),
    "green": (40, 160, 60),
    "emerald": (0, 150, 100),
    "forest green": (30, 85, 40),
    "mint": (160, 235, 195),
    "sage": (150, 170, 130),
    "teal": (0, 128, 128),
    "dark teal": (30, 70, 80),
    "turquoise": (60, 210, 195),
    "cyan": (0, 225, 255),
    "sky blue": (120, 195, 240),
    "powder blue": (180, 215, 235),
    "steel blue": (70, 130, 180),
    "blue": (30, 90, 230),
    "royal blue": (65, 90, 225),
    "cobalt": (0, 70, 170),
    "navy": (15, 30, 100),
    "dark slate blue": (45, 58, 90),
    "midnight blue": (25, 25, 55),
    "indigo": (75, 20, 130),
    "violet": (140, 80, 210),
    "purple": (120, 40, 160),
    "lavender": (185, 165, 230),
    "lilac": (200, 160, 210),
    "plum": (110, 40, 90),
    "magenta": (230, 0, 200),
    "hot pink": (255, 45, 135),
    "pink": (255, 160, 190),
    "blush pink": (240, 195, 200),
    "rose": (225, 80, 120),
}


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    """`#FF7A59`, `FF7A59` or `#F75` as an RGB triple; anything else is InvalidInput."""
    digits = value.strip().removeprefix("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if len(digits) != 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise InvalidInput("color_palette", f"{value!r} is not a hex colour like #FF7A59")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """The "redmean" weighted RGB distance: cheap and closer to perception than plain Euclid."""
    mean_red = (a[0] + b[0]) / 2
    dr, dg, db = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return (2 + mean_red / 256) * dr * dr + 4 * dg * dg + (2 + (255 - mean_red) / 256) * db * db


def colour_name(value: str | tuple[int, int, int]) -> str:
    """The nearest common colour name of a hex string or RGB triple."""
    return _nearest(hex_to_rgb(value) if isinstance(value, str) else value)


@functools.lru_cache(maxsize=4096)
def _nearest(rgb: tuple[int, int, int]) -> str:
    return min(NAMED_COLOURS, key=lambda name: _distance(rgb, NAMED_COLOURS[name]))


def palette_words(palette: list[str] | tuple[str, ...]) -> list[str]:
    """The palette's colour names in order, each once (two near pinks say "hot pink" once)."""
    names: list[str] = []
    for value in palette:
        name = colour_name(value)
        if name not in names:
            names.append(name)
    return names
