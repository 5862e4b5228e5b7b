"""The scene plan: the input of reference generation, in the shape the seed's pipeline produces.

Everything in a plan is bounded so that it can be stored (PostgreSQL refuses NUL), rendered (one endless
word crashes text layout) and tokenized; `parse_plan` reports every problem at once, each with its field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from studio.errors import InvalidInput, Problem
from studio.inputs.files import read_file, size_words
from studio.inputs.text_and_numbers import SONG_SECONDS, text_problem
from studio.plans.problems import located, problems_from
from studio.storage.keys import safe_id_problem

TIMES_OF_DAY = ("dawn", "morning", "noon", "afternoon", "dusk", "night", "midnight")
MAX_PLAN_BYTES = 5 * 1024 * 1024
MAX_NESTING = 32
"""A plan needs five levels (plan, clip_scripts, a clip, its characters, an id); more is not a plan."""
LONG_TEXT_CHARS = 20_000
"""Descriptions and summaries: a planner writes long ones (3,600 characters is common); prompts keep at most
500 characters of them, so the length only bounds what is stored and shown."""
SHORT_TEXT_CHARS = 300
"""Names, roles, times of day, style words, features, camera notes."""
MAX_CLIP_SECONDS = SONG_SECONDS.high
MAX_TRANSITION_SECONDS = 60.0
_STRING_OR_NOT_A_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\[\]{}"]+')
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")


def _text(max_chars: int) -> AfterValidator:
    def check(value: str) -> str:
        problem = text_problem(value, max_chars)
        if problem:
            raise located("", problem)
        return value

    return AfterValidator(check)


def _safe_id(value: str) -> str:
    problem = safe_id_problem(value)
    if problem:
        raise located("", f"not a safe storage-key segment: {problem}")
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise located("", "must not be empty")
    return value.strip()


LongText = Annotated[str, _text(LONG_TEXT_CHARS)]
ShortText = Annotated[str, _text(SHORT_TEXT_CHARS)]
Description = Annotated[str, _text(LONG_TEXT_CHARS), AfterValidator(_non_empty)]
SafeId = Annotated[str, AfterValidator(_safe_id)]
Seconds = Annotated[float, Field(ge=0, le=MAX_CLIP_SECONDS, allow_inf_nan=False)]
ClipIndex = Annotated[int, Field(ge=0, le=100_000)]


class CharacterFeatures(BaseModel):
    """Optional structured look of a character, used to enrich its prompt; other features are text too."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ShortText] = Field(init=False)

    hair: ShortText | None = None
    eyes: ShortText | None = None
    clothing: ShortText | None = None
    accessories: ShortText | None = None
    build: ShortText | None = None
    age: ShortText | None = None

    @model_validator(mode="after")
    def _feature_names(self) -> CharacterFeatures:
        for name in self.__pydantic_extra__ or {}:
            problem = text_problem(name, 64, 64)
            if problem:
                raise located(f".{name[:64]}", f"feature name {problem}")
        return self


class Character(BaseModel):
    id: SafeId
    description: Description
    role: ShortText = "supporting"
    name: ShortText | None = None
    features: CharacterFeatures | None = None


class Scene(BaseModel):
    id: SafeId
    description: Description
    time_of_day: ShortText | None = None

    @field_validator("time_of_day")
    @classmethod
    def _normal_time(cls, value: str | None) -> str | None:
        return value.strip().lower() or None if value else None


class Style(BaseModel):
    color_palette: list[str] = Field(default_factory=list, max_length=16)
    visual_style: ShortText = ""
    mood: ShortText = ""
    lighting: ShortText = ""
    cinematography: ShortText = ""

    @field_validator("color_palette")
    @classmethod
    def _hex_colours(cls, values: list[str]) -> list[str]:
        normalised = []
        for index, value in enumerate(values):
            digits = value.strip().removeprefix("#")
            if len(digits) not in (3, 6) or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise located(f"[{index}]", f"{value[:20]!r} is not a hex colour like #FF7A59")
            if len(digits) == 3:
                digits = "".join(c * 2 for c in digits)
            normalised.append("#" + digits.upper())
        return normalised


class ClipScript(BaseModel):
    clip_index: ClipIndex
    start: Seconds
    end: Seconds
    visual_description: LongText
    motion: ShortText = ""
    camera_angle: ShortText = ""
    characters: list[ShortText] = Field(default_factory=list, max_length=100)
    scenes: list[ShortText] = Field(default_factory=list, max_length=100)
    lyrics_context: LongText | None = None
    beat_intensity: Literal["low", "medium", "high"] = "medium"

    @model_validator(mode="after")
    def _ends_after_start(self) -> ClipScript:
        if self.end < self.start:
            raise located(".end", f"ends at {self.end:g} s, before its start at {self.start:g} s")
        return self


class Transition(BaseModel):
    from_clip: ClipIndex
    to_clip: ClipIndex
    type: Literal["cut", "crossfade", "fade"]
    duration: Annotated[float, Field(ge=0, le=MAX_TRANSITION_SECONDS, allow_inf_nan=False)]
    rationale: LongText = ""


class ScenePlan(BaseModel):
    job_id: UUID = Field(default_factory=uuid4)
    """The plan's job; a plan written without one is given one (shown wherever the plan goes next)."""
    video_summary: LongText = ""
    characters: list[Character] = Field(min_length=1, max_length=100)
    scenes: list[Scene] = Field(min_length=1, max_length=200)
    style: Style = Field(default_factory=Style)
    clip_scripts: list[ClipScript] = Field(default_factory=list, max_length=2_000)
    transitions: list[Transition] = Field(default_factory=list, max_length=2_000)

    @field_validator("characters", "scenes")
    @classmethod
    def _unique_ids(cls, values: list[Character] | list[Scene]) -> list[Character] | list[Scene]:
        seen: set[str] = set()
        subjects: list[Character | Scene] = list(values)
        for index, value in enumerate(subjects):
            if value.id in seen:
                raise located(f"[{index}].id", f"duplicate id {value.id!r}")
            seen.add(value.id)
        return values


def _nesting_deeper_than(text: str, limit: int) -> bool:
    """Whether JSON `text` nests more than `limit` levels, found without parsing (which would recurse).

    Strings are dropped, then the innermost bracket pairs are removed once per level: after `limit`
    rounds a well-nested document is empty. Anything left is too deep, or not JSON at all.
    """
    brackets = _STRING_OR_NOT_A_BRACKET.sub("", text)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = _INNERMOST_PAIR.sub("", brackets)
    if not brackets:
        return False
    try:
        json.loads(text)
    except RecursionError:
        return True
    except ValueError:
        return False  # unbalanced: json.loads reports it in words
    return True


def _decode(data: str | bytes) -> dict[str, Any]:
    if len(data) > MAX_PLAN_BYTES:
        raise InvalidInput("plan", f"is larger than {size_words(MAX_PLAN_BYTES)}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput("plan", f"is not UTF-8 text (byte {exc.start + 1} is not UTF-8)") from None
    if _nesting_deeper_than(data, MAX_NESTING):
        raise InvalidInput("plan", f"is nested more than {MAX_NESTING} levels deep; a plan needs five")
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("plan", f"is not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("plan", "must be a JSON object")
    return parsed


def plan_problems(data: str | bytes | dict[str, Any]) -> list[Problem]:
    """Every problem of a plan, each naming its field (`scenes[2].description`); empty when it is valid."""
    try:
        parse_plan(data)
    except InvalidInput as error:
        return error.problems
    return []


def parse_plan(data: str | bytes | dict[str, Any]) -> ScenePlan:
    """Parse and validate a plan; raises InvalidInput listing every problem, each naming its field."""
    parsed = data if isinstance(data, dict) else _decode(data)
    try:
        return ScenePlan.model_validate(parsed)
    except ValidationError as exc:
        problems = problems_from(exc)
        known = {(p.field, p.problem) for p in problems}
        extra = [p for p in _duplicate_ids(parsed) if (p.field, p.problem) not in known]
        raise InvalidInput.of(problems + extra) from None


def _duplicate_ids(parsed: dict[str, Any]) -> list[Problem]:
    """Duplicate scene and character ids of a plan that has other problems too: the list's own check only
    runs once every item in it is valid, and a creator should see every problem at once."""
    found = []
    for field in ("characters", "scenes"):
        items = parsed.get(field)
        seen: set[str] = set()
        for index, item in enumerate(items if isinstance(items, list) else []):
            value = item.get("id") if isinstance(item, dict) else None
            if isinstance(value, str) and value in seen:
                found.append(Problem(f"{field}[{index}].id", f"duplicate id {value!r}"))
            if isinstance(value, str):
                seen.add(value)
    return found


def load_plan(path: Path) -> ScenePlan:
    """The plan in a file, read bounded (never a device or a pipe) and validated."""
    return parse_plan(read_file(path, MAX_PLAN_BYTES, "PLAN"))
