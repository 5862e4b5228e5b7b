"""The offline preview of a character: a full-body figure clothed in the colours its description names.

What the description does not say comes from the seed: backdrop, pattern, pose, accessory, skin and hair, so
candidate looks of one round (one prompt, several seeds) are told apart at a glance, and the same seed always
draws the same figure.
"""

from __future__ import annotations

import regex

from studio.generation.local_sketches import RGB, SIZE, Canvas, gradient, luma, mix, shade, word_set
from studio.prompts.colours import NAMED_COLOURS

_HAIR: dict[str, RGB] = {
    "grey": (150, 150, 155), "gray": (150, 150, 155), "silver": (200, 200, 210), "white": (235, 235, 235),
    "blonde": (230, 200, 120), "blond": (230, 200, 120), "red": (170, 60, 30), "ginger": (200, 100, 40),
    "brown": (100, 65, 35), "black": (25, 22, 22), "pink": (240, 130, 180), "blue": (70, 110, 220),
}  # fmt: skip
_TOPS = word_set(
    "coat jacket dress shirt hoodie sweater suit top blouse cardigan vest robe cloak gown raincoat parka "
    "jumper uniform overalls tee"
)
_BOTTOMS = word_set("jeans trousers pants skirt shorts leggings")
_COLOUR_WORDS: dict[str, RGB] = {
    **{name: rgb for name, rgb in NAMED_COLOURS.items() if " " not in name},
    "gray": (128, 128, 128),
    "denim": (70, 100, 150),
    "khaki": (190, 175, 125),
    "scarlet": (220, 35, 30),
}
_SKIN: tuple[RGB, ...] = (
    (255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 56, 30),
)  # fmt: skip
BACKDROPS = ("plain", "rings", "stripes", "dots")
POSES = ("arms down", "hand raised", "hands on hips", "arms out")
ACCESSORIES = ("none", "hat", "scarf", "bag")
_NAMED_ACCESSORIES = {"hat": "hat", "cap": "hat", "beanie": "hat", "scarf": "scarf", "bag": "bag"}


def _worn_colour(subject: str, garments: frozenset[str]) -> RGB | None:
    """The colour a description gives a garment ("red wool coat" -> red), if it names one."""
    words = [w.lower() for w in regex.findall(r"\p{L}+", subject)]
    for index, word in enumerate(words):
        if word in garments:
            for before in reversed(words[max(0, index - 3) : index]):
                if before in _COLOUR_WORDS:
                    return _COLOUR_WORDS[before]
    return None


def _backdrop(canvas: Canvas) -> None:
    """A tinted gradient with a pattern and a halo behind the figure, all chosen by the seed."""
    rnd, pen = canvas.random, canvas.pen
    tint = rnd.choice(canvas.palette)
    back = mix(mix(canvas.light, tint, rnd.uniform(0.15, 0.6)), (245, 245, 245), 0.4)
    canvas.image.paste(gradient((SIZE, SIZE), [back, mix(back, canvas.dark, 0.3)]), (0, 0))
    accent = (*mix(canvas.pick(), back, 0.35), 110)
    pattern = rnd.choice(BACKDROPS)
    if pattern == "rings":
        for radius in range(140, 760, 80):
            pen.ellipse((512 - radius, 420 - radius, 512 + radius, 420 + radius), outline=accent, width=16)
    elif pattern == "stripes":
        slant = rnd.choice((-1, 1)) * rnd.randrange(200, 500)
        for x in range(-SIZE, 2 * SIZE, 96):
            pen.line((x, 0, x + slant, SIZE), fill=accent, width=34)
    elif pattern == "dots":
        for y in range(40, SIZE, 84):
            for x in range(40 + (y // 84 % 2) * 42, SIZE, 84):
                pen.ellipse((x - 12, y - 12, x + 12, y + 12), fill=accent)
    pen.ellipse((232, 130, 792, 690), fill=(*rnd.choice(canvas.palette), 80))


def _arm(side: int, pose: str, cx: int, shoulder: int, neck: int, hip: int) -> tuple[tuple[int, int], ...]:
    """Shoulder, elbow and hand of one arm in a pose (the raised hand is the right one)."""
    start = (cx + side * (shoulder - 14), neck + 36)
    if pose == "hand raised" and side == 1:
        return start, (cx + shoulder + 44, neck + 30), (cx + shoulder + 30, neck - 120)
    if pose == "hands on hips":
        return start, (cx + side * (shoulder + 62), neck + 130), (cx + side * 74, hip - 24)
    if pose == "arms out":
        return start, (cx + side * (shoulder + 84), neck + 64), (cx + side * (shoulder + 176), neck + 36)
    return start, (cx + side * (shoulder + 14), neck + 150), (cx + side * (shoulder + 26), hip + 10)


def draw_character(canvas: Canvas, subject: str) -> None:
    """A centred full-body figure on a backdrop, clothed in the colours named or the palette."""
    rnd, pen, words = canvas.random, canvas.pen, canvas.words
    _backdrop(canvas)
    cx, head_r = SIZE // 2, rnd.randrange(40, 46)
    shoulder = rnd.randrange(84, 100) + (12 if words & {"tall", "broad", "muscular"} else 0)
    head_y, feet = 190, 790
    neck, hip = head_y + head_r + 14, 500
    top = _worn_colour(subject, _TOPS) or rnd.choice(canvas.palette)
    legs = _worn_colour(subject, _BOTTOMS) or mix(canvas.dark, (40, 40, 50), 0.3)
    skin = rnd.choice(_SKIN)
    hair = next((_HAIR[w] for w in _HAIR if w in words), rnd.choice(list(_HAIR.values())))
    pose = rnd.choice(POSES)
    named = [_NAMED_ACCESSORIES[w] for w in _NAMED_ACCESSORIES if w in words]
    accessory = named[0] if named else rnd.choice(ACCESSORIES)
    stance = rnd.choice((0, 14, 28))
    if words & {"long", "braid", "ponytail", "curly"}:
        pen.rounded_rectangle(
            (cx - head_r - 10, head_y - 20, cx + head_r + 10, head_y + 190), radius=44, fill=hair
        )
    pen.ellipse((cx - 170, feet - 22, cx + 170, feet + 22), fill=(0, 0, 0, 60))
    for side in (-1, 1):
        pen.polygon(
            [
                (cx + side * 6, hip - 10),
                (cx + side * 64, hip - 10),
                (cx + side * (50 + stance), feet - 22),
                (cx + side * (16 + stance), feet - 22),
            ],
            fill=legs,
        )
        x0, x1 = sorted((cx + side * (10 + stance), cx + side * (70 + stance)))
        pen.rounded_rectangle((x0, feet - 34, x1, feet), radius=12, fill=(30, 28, 30))
    long_top = bool(words & {"coat", "trench", "robe", "cloak", "dress", "gown", "raincoat"})
    hem, flare = (hip + 170, 30) if long_top else (hip + 20, 0)
    pen.polygon(
        [
            (cx - shoulder + 6, neck + 20),
            (cx + shoulder - 6, neck + 20),
            (cx + 70 + flare, hem),
            (cx - 70 - flare, hem),
        ],
        fill=top,
    )
    pen.rounded_rectangle((cx - shoulder, neck + 10, cx + shoulder, neck + 70), radius=28, fill=top)
    if words & {"stripes", "striped", "reflective"}:
        for y in (neck + 110, neck + 170):
            pen.line((cx - 68, y, cx + 68, y), fill=(225, 230, 235), width=9)
    sleeve = shade(top, 0.82) if luma(top) > 50 else mix(top, (140, 140, 150), 0.22)
    for side in (-1, 1):
        start, elbow, hand = _arm(side, pose, cx, shoulder, neck, hip)
        pen.line((*start, *elbow, *hand), fill=sleeve, width=36, joint="curve")
        pen.ellipse((hand[0] - 19, hand[1] - 6, hand[0] + 19, hand[1] + 30), fill=skin)
    accent = max(canvas.palette, key=lambda c: abs(luma(c) - luma(top)))
    if accessory == "bag":
        bag = cx + shoulder
        pen.line((bag - 20, neck + 20, bag - 6, hip - 40), fill=shade(accent, 0.7), width=8)
        pen.rounded_rectangle((bag - 40, hip - 50, bag + 34, hip + 30), radius=10, fill=accent)
    pen.rectangle((cx - 17, head_y + head_r - 10, cx + 17, neck + 22), fill=shade(skin, 0.88))
    if accessory == "scarf":
        pen.rounded_rectangle((cx - 54, neck + 4, cx + 54, neck + 40), radius=14, fill=accent)
        pen.rounded_rectangle((cx + 20, neck + 24, cx + 46, neck + 140), radius=8, fill=shade(accent, 0.85))
    pen.ellipse((cx - head_r, head_y - head_r * 1.15, cx + head_r, head_y + head_r * 1.15), fill=skin)
    crop = 0.0 if words & {"buzz", "shaved", "bald", "cropped"} else 0.5
    pen.chord(
        (cx - head_r - 4, head_y - head_r * 1.3, cx + head_r + 4, head_y + head_r * crop), 180, 360, fill=hair
    )
    if accessory == "hat":
        brim = head_y - head_r * 0.9
        pen.ellipse((cx - head_r - 34, brim - 14, cx + head_r + 34, brim + 14), fill=shade(accent, 0.8))
        pen.rounded_rectangle((cx - head_r + 4, brim - 70, cx + head_r - 4, brim + 2), radius=12, fill=accent)
    for side in (-1, 1):
        ex = cx + side * head_r * 0.4
        pen.ellipse((ex - 5, head_y + 8, ex + 5, head_y + 18), fill=(30, 30, 40))
        if "glasses" in words:
            pen.ellipse((ex - 17, head_y - 3, ex + 17, head_y + 29), outline=(20, 20, 20), width=4)
    pen.arc((cx - 14, head_y + 22, cx + 14, head_y + 40), 20, 160, fill=shade(skin, 0.6), width=3)
