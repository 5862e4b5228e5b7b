"""Draw the four template characters (two poses each) with Pillow into studio/characters/templates/.

Run `python scripts/render_templates.py`; the output is committed. Every figure shares one skeleton per pose
and each style draws it its own way, so pose A and pose B read as the same character. Drawn at twice the
size and scaled down for smooth edges; deterministic, so re-running changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 768, 1024
SCALE = 2
THUMBNAIL = (192, 256)
OUT = Path(__file__).resolve().parents[1] / "studio" / "characters" / "templates"

Point = tuple[float, float]
Skeleton = dict[str, Point]

POSE_A: Skeleton = {
    "head": (384, 225), "neck": (384, 322),
    "shoulder_l": (302, 360), "shoulder_r": (466, 360),
    "elbow_l": (272, 498), "elbow_r": (496, 498),
    "hand_l": (258, 628), "hand_r": (510, 628),
    "hip_l": (340, 612), "hip_r": (428, 612),
    "knee_l": (330, 772), "knee_r": (438, 772),
    "foot_l": (322, 930), "foot_r": (446, 930),
}  # fmt: skip
POSE_B: Skeleton = {
    "head": (398, 228), "neck": (390, 324),
    "shoulder_l": (308, 362), "shoulder_r": (472, 356),
    "elbow_l": (238, 478), "elbow_r": (566, 262),
    "hand_l": (318, 592), "hand_r": (606, 128),
    "hip_l": (346, 612), "hip_r": (434, 608),
    "knee_l": (292, 766), "knee_r": (452, 772),
    "foot_l": (238, 918), "foot_r": (470, 934),
}  # fmt: skip
LIMBS = (
    ("shoulder_l", "elbow_l", "hand_l"),
    ("shoulder_r", "elbow_r", "hand_r"),
    ("hip_l", "knee_l", "foot_l"),
    ("hip_r", "knee_r", "foot_r"),
)


def s(point: Point) -> Point:
    return point[0] * SCALE, point[1] * SCALE


def mid(a: Point, b: Point, t: float = 0.5) -> Point:
    return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t


def segment_quad(a: Point, b: Point, width: float) -> list[Point]:
    """A rectangle of `width` from a to b (screen units)."""
    angle = math.atan2(b[1] - a[1], b[0] - a[0]) + math.pi / 2
    dx, dy = math.cos(angle) * width / 2, math.sin(angle) * width / 2
    return [
        s((a[0] + dx, a[1] + dy)),
        s((b[0] + dx, b[1] + dy)),
        s((b[0] - dx, b[1] - dy)),
        s((a[0] - dx, a[1] - dy)),
    ]


def circle(draw: ImageDraw.ImageDraw, centre: Point, radius: float, **style: object) -> None:
    x, y = s(centre)
    r = radius * SCALE
    draw.ellipse((x - r, y - r, x + r, y + r), **style)  # type: ignore[arg-type]


def rounded_line(draw: ImageDraw.ImageDraw, points: list[Point], width: float, fill: str) -> None:
    scaled = [s(p) for p in points]
    draw.line(scaled, fill=fill, width=int(width * SCALE), joint="curve")
    for point in (points[0], points[-1]):
        circle(draw, point, width / 2 - 0.5, fill=fill)


def spline(points: list[Point], density: float = 0.5) -> list[Point]:
    """Catmull-Rom through the points (`density` samples per unit of length), for flowing strokes."""
    padded = [points[0], *points, points[-1]]
    out: list[Point] = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        steps = max(4, int(math.dist(p1, p2) * density))
        for step in range(steps):
            t = step / steps
            t2, t3 = t * t, t * t * t
            out.append(
                (
                    0.5
                    * (
                        2 * p1[0]
                        + (-p0[0] + p2[0]) * t
                        + (2 * p0[0] - 5 * p1[0] + 4 * p2[0] - p3[0]) * t2
                        + (-p0[0] + 3 * p1[0] - 3 * p2[0] + p3[0]) * t3
                    ),
                    0.5
                    * (
                        2 * p1[1]
                        + (-p0[1] + p2[1]) * t
                        + (2 * p0[1] - 5 * p1[1] + 4 * p2[1] - p3[1]) * t2
                        + (-p0[1] + 3 * p1[1] - 3 * p2[1] + p3[1]) * t3
                    ),
                )
            )
    out.append(points[-1])
    return out


def tapered(draw: ImageDraw.ImageDraw, points: list[Point], start: float, end: float, fill: str) -> None:
    """A smooth stroke whose width runs from `start` to `end`."""
    path = spline(points)
    for i, point in enumerate(path):
        circle(draw, point, (start + (end - start) * i / max(1, len(path) - 1)) / 2, fill=fill)


def canvas(background: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (WIDTH * SCALE, HEIGHT * SCALE), background)
    return image, ImageDraw.Draw(image)


# 1. Geometric ------------------------------------------------------------------------------------
def geometric(sk: Skeleton) -> Image.Image:
    navy, coral, teal, mustard, cream = "#1F3A5F", "#F26B4F", "#2A9D8F", "#E9C46A", "#F4F1EA"
    image, draw = canvas(cream)
    for x in range(0, WIDTH, 48):
        draw.line([s((x, 0)), s((x, HEIGHT))], fill="#E6E1D6", width=2)
    for y in range(0, HEIGHT, 48):
        draw.line([s((0, y)), s((WIDTH, y))], fill="#E6E1D6", width=2)
    circle(draw, (384, 420), 300, fill="#CFE7E3")
    draw.polygon([s((60, 1024)), s((260, 860)), s((420, 1024))], fill="#F7D9A8")
    draw.polygon([s((420, 1024)), s((620, 820)), s((768, 960)), s((768, 1024))], fill="#BFDCD7")
    draw.rectangle([s((0, 960)), s((WIDTH, HEIGHT))], fill=navy)
    for hip, knee, foot in LIMBS[2:]:
        draw.polygon(segment_quad(sk[hip], sk[knee], 44), fill=navy)
        draw.polygon(segment_quad(sk[knee], sk[foot], 40), fill=navy)
        circle(draw, sk[knee], 26, fill=mustard)
        fx, fy = sk[foot]
        draw.rectangle([s((fx - 38, fy - 8)), s((fx + 38, fy + 22))], fill=coral)
    sl, sr, hl, hr = sk["shoulder_l"], sk["shoulder_r"], sk["hip_l"], sk["hip_r"]
    draw.polygon(
        [s((hl[0] - 30, hl[1] + 30)), s((hr[0] + 30, hr[1] + 30)), s(mid(hl, hr, 0.5))], fill=mustard
    )
    draw.polygon([s((sl[0] - 10, sl[1] - 12)), s((sr[0] + 10, sr[1] - 12)), s(hr), s(hl)], fill=teal)
    draw.polygon([s(mid(sl, sr, 0.5)), s(mid(hl, hr, 0.35)), s(mid(hl, hr, 0.65))], fill=coral)
    for shoulder, elbow, hand in LIMBS[:2]:
        draw.polygon(segment_quad(sk[shoulder], sk[elbow], 38), fill=teal)
        draw.polygon(segment_quad(sk[elbow], sk[hand], 34), fill=coral)
        circle(draw, sk[shoulder], 26, fill=navy)
        circle(draw, sk[elbow], 22, fill=mustard)
        circle(draw, sk[hand], 24, fill=navy)
    nx, ny = sk["neck"]
    draw.rectangle([s((nx - 18, ny - 30)), s((nx + 18, ny + 40))], fill=navy)
    hx, hy = sk["head"]
    draw.rectangle([s((hx - 82, hy - 82)), s((hx + 82, hy + 82))], fill=mustard)
    draw.polygon([s((hx - 96, hy - 70)), s((hx, hy - 140)), s((hx + 96, hy - 70))], fill=navy)
    for ex in (hx - 34, hx + 34):
        circle(draw, (ex, hy - 8), 16, fill="white")
        circle(draw, (ex + 3, hy - 6), 8, fill=navy)
    draw.polygon([s((hx, hy + 4)), s((hx - 12, hy + 28)), s((hx + 12, hy + 28))], fill=coral)
    draw.rectangle([s((hx - 30, hy + 44)), s((hx + 30, hy + 54))], fill=navy)
    return image


# 2. Organic --------------------------------------------------------------------------------------
def organic(sk: Skeleton) -> Image.Image:
    moss, forest, terracotta, skin, cream = "#7A9E5A", "#2F5D3A", "#C46A45", "#E8B896", "#F3EEDC"
    image = Image.new("RGB", (WIDTH * SCALE, HEIGHT * SCALE))
    top, bottom = (232, 240, 218), (246, 236, 214)
    gradient = ImageDraw.Draw(image)
    for y in range(HEIGHT * SCALE):
        t = y / (HEIGHT * SCALE)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        gradient.line([(0, y), (WIDTH * SCALE, y)], fill=colour)
    draw = ImageDraw.Draw(image)
    tapered(draw, [(20, 1024), (90, 760), (60, 520), (130, 300), (110, 80)], 14, 3, "#9DB98A")
    tapered(draw, [(750, 1024), (680, 820), (720, 600), (650, 420)], 12, 3, "#9DB98A")
    for cx, cy, angle in ((92, 640, -30), (120, 380, 25), (700, 700, 35), (668, 480, -20), (70, 180, 10)):
        leaf(image, (cx, cy), 70, 28, angle, "#B5CC9A")
    draw.ellipse([s((140, 950)), s((628, 1010))], fill="#D9CDB0")
    hx, hy = sk["head"]
    tapered(
        draw,
        [(hx - 10, hy - 70), (hx - 120, hy - 10), (hx - 140, hy + 120), (hx - 90, hy + 230)],
        70,
        10,
        forest,
    )
    tapered(
        draw, [(hx + 20, hy - 70), (hx + 110, hy), (hx + 120, hy + 110), (hx + 150, hy + 190)], 56, 8, forest
    )
    for hip, knee, foot in LIMBS[2:]:
        tapered(draw, [sk[hip], sk[knee], sk[foot]], 46, 26, terracotta)
        leaf(image, (sk[foot][0] + 10, sk[foot][1] + 6), 34, 14, 0, forest)
    sl, sr, hl, hr = sk["shoulder_l"], sk["shoulder_r"], sk["hip_l"], sk["hip_r"]
    waist = mid(mid(sl, sr), mid(hl, hr), 0.62)
    dress = spline([sl, (waist[0] - 42, waist[1]), (hl[0] - 80, hl[1] + 120)], 0.1)
    dress += spline([(hr[0] + 80, hr[1] + 120), (waist[0] + 42, waist[1]), sr], 0.1)
    draw.polygon([s(p) for p in dress], fill=moss)
    tapered(draw, [mid(sl, sr), waist, mid(hl, hr, 0.5), (mid(hl, hr)[0], hl[1] + 110)], 6, 2, forest)
    for t in (0.3, 0.55, 0.8):
        vein = mid(mid(sl, sr), (mid(hl, hr)[0], hl[1] + 110), t)
        tapered(draw, [vein, (vein[0] - 50, vein[1] - 30)], 5, 1, forest)
        tapered(draw, [vein, (vein[0] + 50, vein[1] - 30)], 5, 1, forest)
    for shoulder, elbow, hand in LIMBS[:2]:
        tapered(draw, [sk[shoulder], sk[elbow], sk[hand]], 34, 20, skin)
        circle(draw, sk[hand], 18, fill=skin)
    tapered(draw, [sk["neck"], mid(sk["neck"], sk["head"], 0.5)], 34, 30, skin)
    draw.ellipse([s((hx - 72, hy - 90)), s((hx + 72, hy + 92))], fill=skin)
    draw.chord([s((hx - 76, hy - 100)), s((hx + 76, hy + 30))], 180, 360, fill=forest)
    for dx, angle in ((-60, -50), (-20, -80), (22, -100), (60, -130)):
        leaf(image, (hx + dx, hy - 92), 38, 15, angle, moss)
    for ex in (hx - 28, hx + 28):
        draw.arc([s((ex - 16, hy + 2)), s((ex + 16, hy + 22))], 200, 340, fill=forest, width=7)
    circle(draw, (hx - 44, hy + 40), 13, fill="#E79A83")
    circle(draw, (hx + 44, hy + 40), 13, fill="#E79A83")
    draw.arc([s((hx - 22, hy + 36)), s((hx + 22, hy + 62))], 20, 160, fill=terracotta, width=7)
    flower = sk["hand_r"]
    for k in range(5):
        a = k * 2 * math.pi / 5
        circle(draw, (flower[0] + 22 * math.cos(a), flower[1] - 30 + 22 * math.sin(a)), 14, fill=cream)
    circle(draw, (flower[0], flower[1] - 30), 10, fill="#E9B44C")
    return image


def leaf(image: Image.Image, centre: Point, length: float, width: float, angle: float, fill: str) -> None:
    """A pointed leaf (two arcs), rotated by `angle` degrees."""
    w, h = int(length * 2 * SCALE), int(length * 2 * SCALE)
    layer = Image.new("L", (w, h), 0)
    shape = ImageDraw.Draw(layer)
    half = w / 2
    outline = [
        (half - length * SCALE * math.cos(t), half - width * SCALE * math.sin(t) * math.sin(t / 2) * 1.6)
        for t in (i * math.pi / 20 for i in range(21))
    ]
    outline += [(x, 2 * half - y) for x, y in reversed(outline)]
    shape.polygon(outline, fill=255)
    shape.line([(half - length * SCALE, half), (half + length * SCALE, half)], fill=150, width=2 * SCALE)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC)
    x, y = s(centre)
    image.paste(fill, (int(x - half), int(y - half)), layer)


# 3. Abstract -------------------------------------------------------------------------------------
def abstract(sk: Skeleton) -> Image.Image:
    red, yellow, blue, black, white = "#D62828", "#FCBF49", "#1D4E89", "#111111", "#F8F4E3"
    image, draw = canvas(white)
    draw.rectangle([s((0, 0)), s((300, 380))], fill=yellow)
    draw.rectangle([s((540, 640)), s((768, 1024))], fill=blue)
    draw.polygon([s((768, 0)), s((768, 300)), s((560, 0))], fill=red)
    draw.rectangle([s((0, 820)), s((180, 1024))], fill=red)
    for line in (
        [(300, 0), (300, 380)],
        [(0, 380), (520, 380)],
        [(540, 640), (540, 1024)],
        [(0, 820), (540, 820)],
    ):
        draw.line([s(p) for p in line], fill=black, width=10 * SCALE)
    outline = 9
    for hip, knee, foot in LIMBS[2:]:
        zig = [sk[hip], mid(sk[hip], sk[knee], 0.5), sk[knee], mid(sk[knee], sk[foot], 0.5), sk[foot]]
        zig = [(x + (18 if i % 2 else 0), y) for i, (x, y) in enumerate(zig)]
        rounded_line(draw, zig, 50 + outline * 2, black)
        rounded_line(draw, zig, 50, blue if hip.endswith("l") else red)
        fx, fy = sk[foot]
        draw.polygon([s((fx - 40, fy + 24)), s((fx + 56, fy + 24)), s((fx - 10, fy - 26))], fill=black)
    sl, sr, hl, hr = sk["shoulder_l"], sk["shoulder_r"], sk["hip_l"], sk["hip_r"]
    torso = [
        s((sl[0] - 20, sl[1] - 10)),
        s((sr[0] + 20, sr[1] - 10)),
        s((hr[0] + 30, hr[1] + 30)),
        s((hl[0] - 30, hl[1] + 30)),
    ]
    draw.polygon(torso, fill=yellow, outline=black, width=outline * SCALE)
    centre = mid(mid(sl, sr), mid(hl, hr))
    draw.polygon(
        [s(mid(sl, sr)), s((sr[0] + 20, sr[1] - 10)), s((hr[0] + 30, hr[1] + 30)), s(centre)], fill=red
    )
    circle(draw, centre, 46, fill=blue, outline=black, width=outline * SCALE)
    draw.line(
        [s(torso_point) for torso_point in ((sl[0] - 20, sl[1] - 10), centre, (hr[0] + 30, hr[1] + 30))],
        fill=black,
        width=outline * SCALE,
    )
    for shoulder, elbow, hand in LIMBS[:2]:
        rounded_line(draw, [sk[shoulder], sk[elbow], sk[hand]], 40 + outline * 2, black)
        rounded_line(draw, [sk[shoulder], sk[elbow], sk[hand]], 40, red if shoulder.endswith("l") else blue)
        hx_, hy_ = sk[hand]
        draw.polygon(
            [s((hx_, hy_ - 34)), s((hx_ + 32, hy_ + 20)), s((hx_ - 32, hy_ + 20))],
            fill=yellow,
            outline=black,
            width=outline * SCALE,
        )
    hx, hy = sk["head"]
    circle(draw, (hx, hy), 98, fill=white, outline=black, width=outline * SCALE)
    draw.pieslice(
        [s((hx - 98, hy - 98)), s((hx + 98, hy + 98))],
        90,
        270,
        fill=blue,
        outline=black,
        width=outline * SCALE,
    )
    draw.polygon(
        [s((hx - 10, hy - 150)), s((hx + 70, hy - 96)), s((hx - 40, hy - 80))],
        fill=red,
        outline=black,
        width=outline * SCALE,
    )
    circle(draw, (hx - 42, hy - 16), 30, fill=yellow, outline=black, width=outline * SCALE)
    circle(draw, (hx - 42, hy - 16), 10, fill=black)
    draw.polygon([s((hx + 26, hy - 34)), s((hx + 70, hy - 10)), s((hx + 26, hy + 6))], fill=black)
    draw.line([s((hx, hy - 4)), s((hx + 34, hy + 36)), s((hx, hy + 40))], fill=black, width=outline * SCALE)
    draw.polygon([s((hx - 40, hy + 56)), s((hx + 40, hy + 50)), s((hx - 4, hy + 76))], fill=red)
    return image


# 4. Minimalist -----------------------------------------------------------------------------------
def minimalist(sk: Skeleton) -> Image.Image:
    ink, accent, paper, coat = "#222222", "#C8553D", "#FAF8F3", "#ECE8E0"
    image, draw = canvas(paper)
    circle(draw, (572, 236), 64, fill="#F1DED3")
    draw.line([s((120, 952)), s((648, 952))], fill="#D6D1C7", width=3 * SCALE)
    line = 8
    sl, sr, hl, hr = sk["shoulder_l"], sk["shoulder_r"], sk["hip_l"], sk["hip_r"]
    hem_l, hem_r = (hl[0] - 62, hl[1] + 56), (hr[0] + 62, hr[1] + 56)
    for hip, knee, foot in LIMBS[2:]:
        start = mid(hem_l, hem_r, 0.3 if hip.endswith("l") else 0.7)
        rounded_line(draw, [start, sk[knee], sk[foot]], line, ink)
        fx, fy = sk[foot]
        rounded_line(draw, [(fx - 4, fy), (fx + 26, fy)], line, ink)
    draw.polygon(
        [s((sl[0] + 8, sl[1])), s((sr[0] - 8, sr[1])), s(hem_r), s(hem_l)],
        fill=coat,
        outline=ink,
        width=line * SCALE,
    )
    rounded_line(draw, [mid(sl, sr), mid(hem_l, hem_r, 0.5)], 3, ink)
    for shoulder, elbow, hand in LIMBS[:2]:
        rounded_line(draw, [sk[shoulder], sk[elbow], sk[hand]], line, ink)
        circle(draw, sk[hand], 9, fill=ink)
    nx, ny = sk["neck"]
    rounded_line(draw, [(nx, ny - 30), (nx, ny + 26)], line, ink)
    hx, hy = sk["head"]
    circle(draw, (hx, hy), 70, fill=paper, outline=ink, width=line * SCALE)
    draw.arc([s((hx - 74, hy - 74)), s((hx + 74, hy + 74))], 190, 300, fill=ink, width=22 * SCALE)
    circle(draw, (hx + 24, hy + 2), 6, fill=ink)
    circle(draw, (hx - 16, hy + 2), 6, fill=ink)
    sway = (sk["head"][0] - 384) * 2.5
    rounded_line(draw, [(nx - 40, ny + 30), (nx + 40, ny + 30)], 24, accent)
    tail = [(nx + 24, ny + 36), (nx + 34 + sway * 0.5, ny + 110), (nx + 30 + sway, ny + 190)]
    tapered(draw, tail, 26, 14, accent)
    return image


STYLES: dict[str, Callable[[Skeleton], Image.Image]] = {
    "character-1": geometric,
    "character-2": organic,
    "character-3": abstract,
    "character-4": minimalist,
}


def render(out: Path = OUT, only: tuple[str, ...] = ()) -> list[Path]:
    """Write every template (or those in `only`) under `out`; returns the paths written."""
    written: list[Path] = []
    for template_id, draw_style in STYLES.items():
        if only and template_id not in only:
            continue
        folder = out / template_id
        folder.mkdir(parents=True, exist_ok=True)
        for pose, skeleton in (("pose-a", POSE_A), ("pose-b", POSE_B)):
            big = draw_style(skeleton).filter(ImageFilter.SMOOTH_MORE)
            final = big.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
            final.save(folder / f"{pose}.png", format="PNG", optimize=True)
            final.resize(THUMBNAIL, Image.Resampling.LANCZOS).save(
                folder / f"{pose}.thumb.webp", format="WEBP", quality=85, method=6
            )
            written += [folder / f"{pose}.png", folder / f"{pose}.thumb.webp"]
    return written


if __name__ == "__main__":
    for path in render():
        print(path.relative_to(OUT.parents[2]))
