"""Prompts for reference images, built from a scene plan.

The seed's structure (description, style, colours, lighting, camera, quality tags) with its defects
fixed: the subject and its framing come first, so CLIP's 77-token cut loses style, never the subject;
scenes and characters are framed differently; time of day and mood are used; colours are named in
words; each image type has its own negative prompt. A prompt over SDXL's 75 tokens gives up its least
useful words first (quality tags, camera, the long form of the time of day, lighting, visual style) until
it fits; subject, framing, time of day, mood and colours stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import regex
from pydantic import BaseModel, ConfigDict

from studio.errors import InvalidInput
from studio.plans.scene_plan import Character, CharacterFeatures, Scene, ScenePlan, Style
from studio.prompts.colours import palette_words
from studio.prompts.tokens import CLIP_USABLE_TOKENS, count_tokens
from studio.storage.keys import reference_name

MAX_PROMPT_CHARS = 500
QUALITY_TAGS = "highly detailed, professional quality, 4K"
BASE_NEGATIVE = "blurry, static, low quality, distorted, watermark, text overlay"
SCENE_NEGATIVE = f"{BASE_NEGATIVE}, people, person, characters, crowd, faces, signature, jpeg artifacts"
CHARACTER_NEGATIVE = (
    f"{BASE_NEGATIVE}, identity drift, inconsistent face, face warping, deformed hands, extra limbs, "
    "extra fingers, multiple characters, duplicate figure, cropped, cut-off feet, busy background"
)
QUALITY_SHORT = "highly detailed"
TIME_OF_DAY_WORDS = {
    "dawn": "at dawn, soft pink first light",
    "morning": "in the morning, fresh clear daylight",
    "noon": "at noon, bright overhead sun, short shadows",
    "afternoon": "in the afternoon, warm slanting sunlight",
    "dusk": "at dusk, golden hour afterglow",
    "night": "at night, dark sky, artificial lights",
    "midnight": "at midnight, deep darkness, moonlight",
}


TIME_WORDS = (
    *TIME_OF_DAY_WORDS,
    "sunrise",
    "sunset",
    "evening",
    "daylight",
    "daytime",
    "nighttime",
    "midday",
    "golden hour",
    "blue hour",
    "twilight",
)
"""Words that say when: a change that holds one replaces the scene's time of day."""
LIGHT_WORDS = (
    "light",
    "lights",
    "lit",
    "lighting",
    "sunlight",
    "moonlight",
    "neon",
    "lamplight",
    "candlelight",
)
"""Words that say how the scene is lit: a change that holds one replaces the plan's lighting."""


@dataclass(frozen=True)
class _Part:
    """A clause of a prompt and its shorter forms, richest first; an empty form drops the clause."""

    name: str
    forms: tuple[str, ...]


FIT_STEPS = ("quality", "camera", "quality", "time", "lighting", "style")
"""What a prompt over the CLIP budget gives up, one step at a time: each moves a part to its next form."""


class SynthesizedPrompt(BaseModel):
    """One reference's prompt with what a creator needs to judge it (tokens, CLIP truncation)."""

    model_config = ConfigDict(frozen=True)

    ref: str
    kind: Literal["scene", "character"]
    subject_id: str
    subject: str
    prompt: str
    negative_prompt: str
    token_count: int
    """CLIP tokens of `prompt`, start and end tokens excluded."""
    truncated_by_clip: bool
    """More than 75 tokens: SDXL's encoders ignore the tail (style and quality tags, by design)."""
    palette: tuple[str, ...]
    char_count: int


_ORDINARY_CAPITALISED = regex.compile(r"\p{Lu}\p{Ll}*(?:[-'\u2019]\p{Ll}+)*\p{P}*")


def lower_first_word(text: str) -> str:
    """`Flat rooftop` reads `flat rooftop` mid-prompt; `NYC subway`, `DJ booth`, `iPhone`, `McQueen's`
    and `I-95` keep their case: only a capitalised ordinary first word is lower-cased."""
    first, space, rest = text.partition(" ")
    if first == "I" or not _ORDINARY_CAPITALISED.fullmatch(first):
        return text
    return first.lower() + space + rest


def _clause(text: str) -> str:
    return " ".join(text.split()).strip(" ,.;")


def cut_to_limit(prompt: str, limit: int = MAX_PROMPT_CHARS) -> str:
    """At most `limit` characters, cut at a word boundary and ended with `...` (the seed's rule)."""
    if len(prompt) <= limit:
        return prompt
    head = prompt[: limit - 3]
    if " " in head and not prompt[limit - 3].isspace():
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;.") + "..."


def time_of_day_words(time_of_day: str | None) -> str:
    """Words for a standard time of day; any other value is used verbatim."""
    if not time_of_day or not time_of_day.strip():
        return ""
    value = _clause(time_of_day)
    return TIME_OF_DAY_WORDS.get(value.lower(), value)


def _feature_words(features: CharacterFeatures | None) -> list[str]:
    if features is None:
        return []
    words: list[str] = []
    fields = features.model_dump(exclude_none=True)
    for key, raw in fields.items():
        value = _clause(str(raw))
        if not value:
            continue
        if key in ("hair", "eyes"):
            words.append(value if key in value.lower() or "eye" in value.lower() else f"{value} {key}")
        elif key == "clothing":
            words.append(f"wearing {value}")
        elif key == "accessories":
            words.append(f"with {value}")
        elif key == "build":
            words.append(value if "build" in value.lower() else f"{value} build")
        elif key == "age":
            words.append(f"aged {value}" if value[:1].isdigit() else value)
        else:
            words.append(f"{key.replace('_', ' ')}: {value}")
    return words


def _style_parts(style: Style, *, camera: bool) -> list[_Part]:
    parts: list[_Part] = []
    if style.mood.strip():
        parts.append(_Part("mood", (f"{_clause(style.mood)} mood",)))
    if style.visual_style.strip():
        parts.append(_Part("style", (f"{_clause(style.visual_style)} aesthetic", "")))
    colours = palette_words(style.color_palette)
    if colours:
        named = colours[0] if len(colours) == 1 else ", ".join(colours[:-1]) + f" and {colours[-1]}"
        parts.append(_Part("colours", (f"{named} color scheme",)))
    if style.lighting.strip():
        parts.append(_Part("lighting", (_clause(style.lighting), "")))
    if camera and style.cinematography.strip():
        parts.append(_Part("camera", (_clause(style.cinematography), "")))
    parts.append(_Part("quality", (QUALITY_TAGS, QUALITY_SHORT, "")))
    return parts


def _time_part(time_of_day: str | None) -> _Part:
    words = time_of_day_words(time_of_day)
    short = words.split(",")[0]
    return _Part("time", (words, short) if short != words else (words,))


def fit_to_clip(parts: list[_Part], budget: int = CLIP_USABLE_TOKENS) -> str:
    """The parts joined, shortened step by step (`FIT_STEPS`) while the prompt is over `budget` tokens."""
    chosen = {index: 0 for index in range(len(parts))}

    def text() -> str:
        return ", ".join(form for i, part in enumerate(parts) if (form := part.forms[chosen[i]]))

    prompt = cut_to_limit(text())
    for step in FIT_STEPS:
        if count_tokens(prompt) <= budget:
            break
        for index, part in enumerate(parts):
            if part.name == step and chosen[index] + 1 < len(part.forms):
                chosen[index] += 1
        prompt = cut_to_limit(text())
    return prompt


def _finish(
    *, kind: Literal["scene", "character"], subject_id: str, subject: str, parts: list[_Part], style: Style
) -> SynthesizedPrompt:
    prompt = fit_to_clip(parts)
    tokens = count_tokens(prompt)
    return SynthesizedPrompt(
        ref=reference_name(kind, subject_id),
        kind=kind,
        subject_id=subject_id,
        subject=subject,
        prompt=prompt,
        negative_prompt=SCENE_NEGATIVE if kind == "scene" else CHARACTER_NEGATIVE,
        token_count=tokens,
        truncated_by_clip=tokens > CLIP_USABLE_TOKENS,
        palette=tuple(style.color_palette),
        char_count=len(prompt),
    )


def _mentions(change: str, words: tuple[str, ...]) -> bool:
    return any(regex.search(rf"\b{regex.escape(word)}\b", change, regex.IGNORECASE) for word in words)


def _with_change(change: str, time_of_day: str | None, style: Style) -> tuple[list[_Part], str | None, Style]:
    """A reviewer's change as a part of its own, and what it replaces: a time of day in the change stands
    instead of the plan's, and light words instead of the plan's lighting (never both, side by side)."""
    if not change:
        return [], time_of_day, style
    if _mentions(change, TIME_WORDS):
        time_of_day = None
    if _mentions(change, LIGHT_WORDS):
        style = style.model_copy(update={"lighting": ""})
    return [_Part("change", (change,))], time_of_day, style


def scene_prompt(scene: Scene, style: Style, field: str = "scene", change: str = "") -> SynthesizedPrompt:
    """An empty establishing shot of the place: characters get their own references.

    With a reviewer's `change` (prompt words), it comes right after the subject and framing, where CLIP
    reads it, and replaces what it contradicts (see `_with_change`)."""
    subject = _clause(scene.description)
    if not subject:
        raise InvalidInput(f"{field}.description", "must not be empty")
    changed, time_of_day, style = _with_change(change, scene.time_of_day, style)
    parts = [
        _Part("subject", (f"wide establishing shot of {lower_first_word(subject)}",)),
        _Part("framing", ("no people",)),
        *changed,
        _time_part(time_of_day),
        *_style_parts(style, camera=True),
    ]
    return _finish(kind="scene", subject_id=scene.id, subject=subject, parts=parts, style=style)


def character_prompt(
    character: Character, style: Style, field: str = "character", change: str = ""
) -> SynthesizedPrompt:
    """A full-body reference sheet: neutral pose and plain background, so the figure stays reusable.

    The plan's cinematography (camera moves, lenses) is left out: it describes clips, not a reference sheet.
    A reviewer's `change` comes after the features, as in `scene_prompt`.
    """
    changed, _, style = _with_change(change, None, style)
    subject = _clause(character.description)
    if not subject:
        raise InvalidInput(f"{field}.description", "must not be empty")
    described = lower_first_word(subject)
    if character.name and character.name.strip():
        described = f"{_clause(character.name)}, {described}"
    parts = [
        _Part("subject", (f"full-body character reference of {described}",)),
        *(_Part("features", (words,)) for words in _feature_words(character.features)),
        *changed,
        _Part("framing", ("single character, neutral standing pose, front view, plain background",)),
        *_style_parts(style, camera=False),
    ]
    return _finish(kind="character", subject_id=character.id, subject=subject, parts=parts, style=style)


def synthesize(plan: ScenePlan) -> list[SynthesizedPrompt]:
    """One prompt per scene, then one per character, in plan order."""
    prompts = [scene_prompt(s, plan.style, f"scenes[{i}]") for i, s in enumerate(plan.scenes)]
    prompts += [character_prompt(c, plan.style, f"characters[{i}]") for i, c in enumerate(plan.characters)]
    return prompts


def prompt_with_change(
    plan: ScenePlan, kind: Literal["scene", "character"], subject_id: str, change: str
) -> str:
    """A reference's prompt synthesized again from its scene or character with a reviewer's `change`."""
    if kind == "scene":
        scene = next((s for s in plan.scenes if s.id == subject_id), None)
        if scene is not None:
            return scene_prompt(scene, plan.style, change=change).prompt
    else:
        character = next((c for c in plan.characters if c.id == subject_id), None)
        if character is not None:
            return character_prompt(character, plan.style, change=change).prompt
    raise InvalidInput("ref", f"{kind} {subject_id!r} is not in the plan")
