"""Drawings of the offline previews' scenes (sky, skyline, nature or a room), and the canvas both kinds use.

Pure Pillow and a seeded random source, so the same request always draws the same picture.
"""

from __future__ import annotations

import random

import regex
from PIL import Image, ImageDraw

from studio.generation.base import GenerationRequest

RGB = tuple[int, int, int]


def word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


SIZE = 1024
_SKIES: dict[str, tuple[RGB, RGB, float]] = {
    "dawn": ((70, 80, 140), (255, 175, 150), 0.85),
    "morning": ((110, 170, 230), (225, 238, 245), 1.0),
    "noon": ((55, 135, 230), (190, 225, 250), 1.0),
    "afternoon": ((90, 150, 215), (250, 220, 170), 0.95),
    "dusk": ((60, 50, 110), (250, 140, 80), 0.7),
    "night": ((8, 10, 32), (45, 40, 85), 0.4),
    "midnight": ((2, 2, 10), (18, 16, 40), 0.3),
}
_SUN_POSITIONS = {"dawn": (0.2, 0.5), "morning": (0.3, 0.25), "noon": (0.5, 0.12), "afternoon": (0.7, 0.25)}
_DEFAULT_PALETTE: tuple[RGB, ...] = ((64, 96, 160), (230, 170, 90), (40, 40, 56), (220, 220, 230))
_INTERIOR = word_set(
    "diner library subway train greenhouse arcade room hall kitchen bar studio office bedroom cafe café club "
    "church classroom corridor museum"
)
_NATURE = word_set(
    "forest mountain mountains desert field meadow valley clearing hills beach canyon jungle highway road "
    "lake river island countryside"
)
_WATER = word_set("harbor harbour sea ocean lake river beach bay puddles canal pier")


def _hex(value: str) -> RGB | None:
    digits = value.strip().removeprefix("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    try:
        return (
            (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)) if len(digits) == 6 else None
        )
    except ValueError:
        return None


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def shade(colour: RGB, factor: float) -> RGB:
    return mix((0, 0, 0), colour, factor)


def luma(colour: RGB) -> float:
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def gradient(size: tuple[int, int], stops: list[RGB]) -> Image.Image:
    """A vertical gradient through `stops`, built as one column and stretched: fast at any size."""
    width, height = size
    column = Image.new("RGB", (1, height))
    spans = len(stops) - 1
    column.putdata(
        [
            mix(
                stops[min(int(y / height * spans), spans - 1)],
                stops[min(int(y / height * spans) + 1, spans)],
                (y / height * spans) % 1.0,
            )
            for y in range(height)
        ]
    )
    return column.resize((width, height), Image.Resampling.NEAREST)


class Canvas:
    """One render: the image, its RGBA-blending pen, a seeded random source and the palette."""

    def __init__(self, request: GenerationRequest, palette: tuple[str, ...]) -> None:
        colours = [c for c in (_hex(v) for v in palette) if c is not None] or list(_DEFAULT_PALETTE)
        self.palette = colours
        self.dark = min(colours, key=luma)
        self.light = max(colours, key=luma)
        self.vivid = max(colours, key=lambda c: max(c) - min(c))
        self.random = random.Random(f"{request.seed}:{request.kind}:{request.subject}")
        self.words = {w.lower() for w in regex.findall(r"\p{L}+", request.subject)}
        self.image = Image.new("RGB", (SIZE, SIZE))
        self.pen = ImageDraw.Draw(self.image, "RGBA")

    def pick(self) -> RGB:
        return self.random.choice(self.palette)


def draw_scene(canvas: Canvas, when: str | None) -> None:
    rnd, pen = canvas.random, canvas.pen
    top, bottom, light = _SKIES.get(when or "", (shade(canvas.dark, 0.8), canvas.light, 0.9))
    top, bottom = mix(top, canvas.dark, 0.3), mix(bottom, canvas.vivid, 0.3)
    horizon = int(SIZE * rnd.uniform(0.55, 0.66))
    canvas.image.paste(gradient((SIZE, horizon), [top, mix(top, bottom, 0.5), bottom]), (0, 0))
    if light < 0.5:
        for _ in range(140 if when == "midnight" else 80):
            x, y, r = rnd.randrange(SIZE), rnd.randrange(horizon), rnd.choice((1, 1, 2))
            pen.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 240, rnd.randrange(120, 255)))
        mx, my = rnd.randrange(600, 900), rnd.randrange(90, 220)
        pen.ellipse((mx - 46, my - 46, mx + 46, my + 46), fill=(240, 240, 225))
        pen.ellipse((mx - 30, my - 54, mx + 56, my + 32), fill=(*top, 255))
    else:
        fx, fy = _SUN_POSITIONS.get(when or "", (0.78, 0.45))
        sx, sy = int(SIZE * fx), int(horizon * fy) + 40
        for radius, alpha in ((150, 30), (110, 50), (75, 90)):
            pen.ellipse((sx - radius, sy - radius, sx + radius, sy + radius), fill=(255, 240, 200, alpha))
        pen.ellipse((sx - 55, sy - 55, sx + 55, sy + 55), fill=(255, 246, 220))
    interior = bool(canvas.words & _INTERIOR)
    nature = not interior and bool(canvas.words & _NATURE)
    if interior:
        _draw_interior(canvas, min(horizon, 600), light, [top, mix(top, bottom, 0.5), bottom])
    else:
        far = mix(shade(canvas.pick(), light), bottom, 0.55)
        if nature:
            _draw_ridge(canvas, horizon, far, 220)
            _draw_ridge(canvas, horizon, shade(mix(canvas.pick(), canvas.dark, 0.4), light), 120)
        else:
            _draw_skyline(canvas, horizon, far, tall=260, lit=False, light=light)
            _draw_skyline(
                canvas,
                horizon,
                shade(mix(canvas.pick(), canvas.dark, 0.5), light),
                tall=420,
                lit=light < 0.8,
                light=light,
            )
        ground = shade(mix(canvas.dark, canvas.pick(), 0.25), max(light, 0.35))
        canvas.image.paste(
            gradient((SIZE, SIZE - horizon), [mix(ground, bottom, 0.3), shade(ground, 0.55)]), (0, horizon)
        )
        for i in range(-6, 7):
            pen.line((SIZE // 2 + i * 18, horizon, SIZE // 2 + i * 260, SIZE), fill=(*bottom, 55), width=3)
        if canvas.words & {"road", "highway", "street", "avenue", "route", "freeway"}:
            pen.polygon(
                [(SIZE // 2 - 14, horizon), (SIZE // 2 + 14, horizon), (SIZE - 60, SIZE), (60, SIZE)],
                fill=shade(canvas.dark, max(light, 0.5)),
            )
            for y in range(horizon + 8, SIZE, 60):
                half = 2 + (y - horizon) // 40
                pen.rectangle(
                    (SIZE // 2 - half, y, SIZE // 2 + half, y + 10 + (y - horizon) // 12), fill=canvas.light
                )
        if canvas.words & {"forest", "trees", "woods", "jungle", "clearing", "park", "garden", "pines"}:
            for _ in range(26):
                tx, base = rnd.randrange(-40, SIZE + 40), horizon + rnd.randrange(0, 50)
                tall, wide = rnd.randrange(110, 260), rnd.randrange(36, 70)
                tree = shade(mix(canvas.dark, (30, 90, 50), 0.5), max(light, 0.45) * rnd.uniform(0.7, 1.1))
                pen.polygon([(tx, base - tall), (tx + wide, base), (tx - wide, base)], fill=tree)
    if canvas.words & _WATER:
        for y in range(horizon + 10, SIZE - 220, 14):
            x = rnd.randrange(-100, SIZE)
            glint = rnd.choice((canvas.light, canvas.vivid, canvas.pick()))
            pen.line((x, y, x + rnd.randrange(40, 220), y), fill=(*glint, 120), width=3)
    if canvas.words & {"rain", "rainy", "storm", "wet"}:
        for _ in range(260):
            x, y = rnd.randrange(-100, SIZE), rnd.randrange(SIZE)
            pen.line((x, y, x + 14, y + 46), fill=(210, 220, 255, 70), width=2)


def _draw_ridge(canvas: Canvas, horizon: int, colour: RGB, height: int) -> None:
    rnd = canvas.random
    points = [(0, horizon)]
    for x in range(0, SIZE + 129, 128):
        points.append((x + rnd.randrange(-40, 40), horizon - rnd.randrange(height // 4, height)))
    points.append((SIZE, horizon))
    canvas.pen.polygon(points, fill=colour)


def _draw_skyline(canvas: Canvas, horizon: int, colour: RGB, *, tall: int, lit: bool, light: float) -> None:
    rnd, pen = canvas.random, canvas.pen
    x = rnd.randrange(-60, 0)
    while x < SIZE:
        width, height = rnd.randrange(70, 170), rnd.randrange(tall // 4, tall)
        top = horizon - height
        pen.rectangle((x, top, x + width, horizon), fill=mix(colour, canvas.pick(), 0.12))
        if rnd.random() < 0.3:
            pen.line((x + width // 2, top, x + width // 2, top - rnd.randrange(30, 80)), fill=colour, width=4)
        if lit:
            glow = canvas.vivid if light < 0.6 else canvas.light
            for wy in range(top + 14, horizon - 16, 30):
                for wx in range(x + 10, x + width - 16, 24):
                    if rnd.random() < 0.45:
                        pen.rectangle((wx, wy, wx + 10, wy + 14), fill=(*glow, rnd.randrange(140, 255)))
        if lit and light < 0.6 and rnd.random() < 0.4:
            sign = rnd.choice(canvas.palette)
            sx, sy = x + rnd.randrange(8, max(9, width - 60)), top + rnd.randrange(20, max(21, height // 2))
            pen.rounded_rectangle((sx - 10, sy - 10, sx + 62, sy + 38), radius=12, fill=(*sign, 70))
            pen.rounded_rectangle(
                (sx, sy, sx + 52, sy + 28),
                radius=8,
                outline=(*mix(sign, (255, 255, 255), 0.3), 255),
                width=5,
            )
        x += width + rnd.randrange(-10, 24)


def _draw_interior(canvas: Canvas, horizon: int, light: float, sky: list[RGB]) -> None:
    """A room in one-point perspective: back wall with windows onto the sky, floor grid, lamps, furniture."""
    rnd, pen = canvas.random, canvas.pen
    wall = shade(mix(canvas.pick(), canvas.light, 0.35), max(light, 0.5))
    left, right, top = 200, SIZE - 200, 190
    pen.polygon([(0, 0), (left, top), (left, horizon), (0, SIZE)], fill=shade(wall, 0.7))
    pen.polygon([(SIZE, 0), (right, top), (right, horizon), (SIZE, SIZE)], fill=shade(wall, 0.7))
    pen.polygon([(0, 0), (SIZE, 0), (right, top), (left, top)], fill=shade(wall, 0.45))
    pen.rectangle((left, top, right, horizon), fill=wall)
    count = rnd.randrange(2, 4)
    span = (right - left - 40) // count
    for i in range(count):
        wx = left + 20 + i * span + 12
        canvas.image.paste(gradient((span - 24, 150), sky), (wx, top + 40))
        pen.rectangle((wx, top + 40, wx + span - 24, top + 190), outline=shade(wall, 0.5), width=8)
        pen.line(
            (wx + (span - 24) // 2, top + 40, wx + (span - 24) // 2, top + 190),
            fill=shade(wall, 0.5),
            width=6,
        )
    floor = shade(mix(canvas.dark, canvas.pick(), 0.35), max(light, 0.55))
    pen.polygon([(left, horizon), (right, horizon), (SIZE, SIZE), (0, SIZE)], fill=floor)
    grout = (*shade(floor, 0.65), 255)
    for i in range(11):
        t = i / 10
        pen.line((left + (right - left) * t, horizon, SIZE * 1.6 * t - SIZE * 0.3, SIZE), fill=grout, width=3)
    for step in (0.08, 0.2, 0.38, 0.62, 1.0):
        y = horizon + int((SIZE - horizon) * step)
        pen.line((0, y, SIZE, y), fill=grout, width=3)
    for i in range(3):
        lx, ly = left + (right - left) * (i + 0.5) / 3, 130 + (i % 2) * 18
        pen.line((lx, 0, lx, ly), fill=(30, 30, 30), width=3)
        pen.ellipse((lx - 46, ly - 14, lx + 46, ly + 40), fill=(*canvas.light, 60))
        pen.pieslice((lx - 30, ly - 20, lx + 30, ly + 24), 180, 360, fill=shade(canvas.vivid, 0.8))
    for _ in range(rnd.randrange(3, 6)):
        bw, bh = rnd.randrange(110, 240), rnd.randrange(60, 130)
        bx, by = rnd.randrange(30, SIZE - bw - 30), rnd.randrange(horizon + 20, max(horizon + 21, 780 - bh))
        colour = shade(canvas.pick(), max(light, 0.6))
        pen.polygon(
            [(bx, by), (bx + bw, by), (bx + bw - 18, by - 22), (bx + 18, by - 22)],
            fill=mix(colour, (255, 255, 255), 0.25),
        )
        pen.rectangle((bx, by, bx + bw, by + bh), fill=colour)
