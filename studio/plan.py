"""The scene plan: the input of reference generation, in the shape the seed's pipeline produces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from studio.errors import InvalidInput
from studio.keys import safe_id_problem

TIMES_OF_DAY = ("dawn", "morning", "noon", "afternoon", "dusk", "night", "midnight")
MAX_PLAN_BYTES = 2 * 1024 * 1024


def _safe_id(value: str) -> str:
    problem = safe_id_problem(value)
    if problem:
        raise ValueError(f"not a safe storage-key segment: {problem}")
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class CharacterFeatures(BaseModel):
    """Optional structured look of a character, used to enrich its prompt."""

    model_config = ConfigDict(extra="allow")

    hair: str | None = None
    eyes: str | None = None
    clothing: str | None = None
    accessories: str | None = None
    build: str | None = None
    age: str | None = None


class Character(BaseModel):
    id: str
    description: str
    role: str = "supporting"
    name: str | None = None
    features: CharacterFeatures | None = None

    _check_id = field_validator("id")(_safe_id)
    _check_description = field_validator("description")(_non_empty)


class Scene(BaseModel):
    id: str
    description: str
    time_of_day: str | None = None

    _check_id = field_validator("id")(_safe_id)
    _check_description = field_validator("description")(_non_empty)

    @field_validator("time_of_day")
    @classmethod
    def _normal_time(cls, value: str | None) -> str | None:
        return value.strip().lower() or None if value else None


class Style(BaseModel):
    color_palette: list[str] = Field(default_factory=list)
    visual_style: str = ""
    mood: str = ""
    lighting: str = ""
    cinematography: str = ""

    @field_validator("color_palette")
    @classmethod
    def _hex_colours(cls, values: list[str]) -> list[str]:
        normalised = []
        for value in values:
            digits = value.strip().removeprefix("#")
            if len(digits) not in (3, 6) or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"{value!r} is not a hex colour like #FF7A59")
            if len(digits) == 3:
                digits = "".join(c * 2 for c in digits)
            normalised.append("#" + digits.upper())
        return normalised


class ClipScript(BaseModel):
    clip_index: int
    start: float
    end: float
    visual_description: str
    motion: str = ""
    camera_angle: str = ""
    characters: list[str] = Field(default_factory=list)
    scenes: list[str] = Field(default_factory=list)
    lyrics_context: str | None = None
    beat_intensity: Literal["low", "medium", "high"] = "medium"


class Transition(BaseModel):
    from_clip: int
    to_clip: int
    type: Literal["cut", "crossfade", "fade"]
    duration: float
    rationale: str = ""


class ScenePlan(BaseModel):
    job_id: UUID
    video_summary: str = ""
    characters: list[Character]
    scenes: list[Scene]
    style: Style = Field(default_factory=Style)
    clip_scripts: list[ClipScript] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete_and_unique(self) -> ScenePlan:
        if not self.scenes:
            raise ValueError("scenes: the plan has no scenes; at least one is needed")
        if not self.characters:
            raise ValueError("characters: the plan has no characters; at least one is needed")
        ids = {"scenes": [s.id for s in self.scenes], "characters": [c.id for c in self.characters]}
        for field, values in ids.items():
            seen: set[str] = set()
            for index, value in enumerate(values):
                if value in seen:
                    raise ValueError(f"{field}[{index}].id: duplicate id {value!r}")
                seen.add(value)
        return self


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "plan"


def invalid_input_from(error: ValidationError, root: str = "") -> InvalidInput:
    """The first problem of a pydantic error as InvalidInput, its field written `scenes[2].id`."""
    first = error.errors()[0]
    field = _field_path(tuple(first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    if ": " in message and first["type"] == "value_error" and not first["loc"]:
        field, message = message.split(": ", 1)
    if root:
        field = f"{root}.{field}" if field != "plan" else root
    return InvalidInput(field, message)


def parse_plan(data: str | bytes | dict[str, Any]) -> ScenePlan:
    """Parse and validate a plan; raises InvalidInput naming the field and the problem."""
    if isinstance(data, (str, bytes)):
        if len(data) > MAX_PLAN_BYTES:
            raise InvalidInput("plan", f"is larger than {MAX_PLAN_BYTES // 1024 // 1024} MB")
        try:
            data = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("plan", f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInput("plan", "must be a JSON object")
    try:
        return ScenePlan.model_validate(data)
    except ValidationError as exc:
        raise invalid_input_from(exc) from None


def load_plan(path: Path) -> ScenePlan:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput("PLAN", f"cannot read {path}: {exc.strerror}") from None
    return parse_plan(raw)
