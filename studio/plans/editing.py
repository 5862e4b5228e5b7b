"""Editing a plan as a creator sees it: scenes, characters and style as rows and fields instead of JSON,
and a refused plan's problems in a creator's words ("Scene 2 · description: must not be empty").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from studio.errors import InvalidInput
from studio.plans.scene_plan import ScenePlan, parse_plan

SCENE_COLUMNS = ("id", "description", "time_of_day")
CHARACTER_COLUMNS = ("id", "name", "role", "description")
STYLE_FIELDS = ("visual_style", "mood", "lighting", "cinematography")
_LISTS = {
    "scenes": "Scene",
    "characters": "Character",
    "clip_scripts": "Clip",
    "transitions": "Transition",
    "color_palette": "Colour",
}
_ITEM = re.compile(r"(?P<list>[a-z_]+)\[(?P<index>\d+)\]")


class StyleFields(BaseModel):
    """The plan's style as a form shows it; the palette is hex colours separated by commas or spaces."""

    visual_style: str = ""
    mood: str = ""
    lighting: str = ""
    cinematography: str = ""
    palette: str = ""


def scene_rows(plan: ScenePlan) -> list[dict[str, str]]:
    return [
        {"id": s.id, "description": s.description, "time_of_day": s.time_of_day or ""} for s in plan.scenes
    ]


def character_rows(plan: ScenePlan) -> list[dict[str, str]]:
    return [
        {"id": c.id, "name": c.name or "", "role": c.role, "description": c.description}
        for c in plan.characters
    ]


def style_fields(plan: ScenePlan) -> StyleFields:
    style = plan.style
    return StyleFields(
        visual_style=style.visual_style,
        mood=style.mood,
        lighting=style.lighting,
        cinematography=style.cinematography,
        palette=", ".join(style.color_palette),
    )


def _text(value: Any) -> str:
    """A cell as text: an empty or missing cell (None, NaN from a table) is ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _filled(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[dict[str, str]]:
    """The rows as text, without the rows a table adds and leaves blank."""
    cleaned = [{column: _text(row.get(column)) for column in columns} for row in rows]
    return [row for row in cleaned if any(row.values())]


def edited_plan(
    plan: ScenePlan,
    scenes: Sequence[Mapping[str, Any]],
    characters: Sequence[Mapping[str, Any]],
    style: StyleFields,
) -> ScenePlan:
    """The plan with these scenes, characters and style; raises InvalidInput with every problem found.

    A character keeps its structured features (hair, clothing...) while its id stays the same; everything
    the form does not show (clip scripts, transitions) is kept as it is.
    """
    data = plan.model_dump(mode="json")
    features = {c.id: c.features for c in plan.characters if c.features is not None}
    data["scenes"] = [
        {"id": r["id"], "description": r["description"], "time_of_day": r["time_of_day"] or None}
        for r in _filled(scenes, SCENE_COLUMNS)
    ]
    data["characters"] = [
        {
            "id": r["id"],
            "name": r["name"] or None,
            "role": r["role"] or "supporting",
            "description": r["description"],
            **({"features": features[r["id"]].model_dump()} if r["id"] in features else {}),
        }
        for r in _filled(characters, CHARACTER_COLUMNS)
    ]
    data["style"] = {
        **{name: getattr(style, name).strip() for name in STYLE_FIELDS},
        "color_palette": [c for c in re.split(r"[\s,;]+", style.palette) if c],
    }
    return parse_plan(data)


def field_words(field: str) -> str:
    """`scenes[1].time_of_day` as `Scene 2 · time of day`; anything else with its underscores as spaces."""
    words = _ITEM.sub(lambda m: f"{_LISTS.get(m['list'], m['list'])} {int(m['index']) + 1} · ", field)
    return words.replace(" · .", " · ").replace("_", " ").replace(".", " · ").strip(" ·") or "plan"


def problem_lines(error: InvalidInput) -> list[str]:
    """Every problem of a refused input, one line each, fields in words.

    An error that lists several problems (`problems`, items with `field` and `problem`) gives one line per
    problem; any other gives its single field and problem.
    """
    listed = getattr(error, "problems", None) or []
    if len(listed) > 1:
        return [f"{field_words(str(p.field))}: {p.problem}" for p in listed]
    return [f"{field_words(error.field)}: {error.problem}"]
