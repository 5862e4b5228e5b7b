"""A song's character description: the interrogation (the source, with its provider and model) and a
creator's edits of it, kept apart so they survive a re-run of the interrogation.

The consistent-character prompt (the consistency job's and new rounds of looks') is built from the edited
text in order of importance within SDXL's 75 CLIP tokens: the creator's edits first, then the identity the
interrogation found (its description, then its detailed prompt), then style, quality words last; no phrase
twice, no interrogator's notes. A template has no interrogation: its own description stands in for one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from studio.access.roles import Actor, require
from studio.characters.templates import get_template
from studio.errors import InvalidInput, NotFound
from studio.inputs.text_and_numbers import check_text
from studio.interrogation.base import Interrogation
from studio.prompts import CLIP_USABLE_TOKENS
from studio.prompts.changes import WordChange, word_diff
from studio.prompts.fitting import QUALITY_WORDS, FittedPrompt, fit_phrases, is_quality_tag, phrases
from studio.records.songs import SongRow
from studio.services import Services
from studio.storage.keys import check_id

Field = Literal["character_description", "prompt", "style_notes"]
FIELDS: tuple[Field, ...] = ("character_description", "prompt", "style_notes")
LABELS: dict[Field, str] = {
    "character_description": "Description",
    "prompt": "Detailed prompt",
    "style_notes": "Style notes",
}
MAX_FIELD_CHARS = 2_000
"""An interrogation's detailed prompt asks for 100-150 words; an edit may be longer, not endless."""
IMPORTANCE: tuple[Field, ...] = ("character_description", "prompt", "style_notes")
"""Edited fields first, in this order; then the unedited ones in this order; then the quality words."""


class DescriptionEdits(BaseModel):
    """What a creator changed; None means "as interrogated"."""

    character_description: str | None = None
    prompt: str | None = None
    style_notes: str | None = None


class DescribedField(BaseModel):
    """One field as the page shows it: the interrogated text, the text in use, and what differs."""

    field: Field
    label: str
    interrogated: str
    text: str
    edited: bool
    changes: list[WordChange]


class CharacterDescription(BaseModel):
    """The description a song's looks are made from, and the prompt synthesized from it."""

    song_id: str
    source: str
    """`openai`, `replicate`, `local` (an interrogator) or `template`."""
    model: str
    notes: list[str]
    fields: list[DescribedField]
    consistent_prompt: str
    token_count: int
    token_limit: int = CLIP_USABLE_TOKENS
    left_out: list[str] = []
    """Phrases of the description that did not fit SDXL's 75 tokens."""

    @property
    def edited(self) -> bool:
        return any(f.edited for f in self.fields)


def fitted_prompt(source: Interrogation, edits: DescriptionEdits | None = None) -> FittedPrompt:
    """The consistent-character prompt: what the creator wrote first, quality words last, ≤ 75 tokens."""
    edits = edits or DescriptionEdits()
    current = edited(source, edits)
    order = [name for name in IMPORTANCE if getattr(edits, name) is not None]
    order += [name for name in IMPORTANCE if name not in order]
    said = [phrases(getattr(current, name)) for name in order]
    quality = [phrase for group in said for phrase in group if is_quality_tag(phrase)]
    groups = [[phrase for phrase in group if not is_quality_tag(phrase)] for group in said]
    return fit_phrases([*groups, QUALITY_WORDS, quality])


def consistent_prompt(source: Interrogation, edits: DescriptionEdits | None = None) -> str:
    """The seed's consistent-character prompt from an interrogation and the creator's edits of it."""
    return fitted_prompt(source, edits).prompt


def template_description(template_id: str) -> Interrogation:
    """What stands in for an interrogation of a template character: its own description."""
    template = get_template(template_id)
    return Interrogation(
        prompt="full-body character reference, single figure, neutral standing pose, plain background",
        character_description=f"{template.name.lower()}, {template.description}",
        style_notes=template.description,
        source="template",
        model=template.id,
    )


def interrogated(song: SongRow | None) -> Interrogation | None:
    """The source of a song's description: its interrogation, else its template's description."""
    if song is None:
        return None
    if song.character_interrogation_json:
        return Interrogation.model_validate_json(song.character_interrogation_json)
    if song.character_reference_source == "template" and song.character_template_id:
        return template_description(song.character_template_id)
    return None


def edits_of(song: SongRow | None) -> DescriptionEdits:
    if song is None or not song.character_interrogation_edits_json:
        return DescriptionEdits()
    return DescriptionEdits.model_validate_json(song.character_interrogation_edits_json)


def edited(source: Interrogation, edits: DescriptionEdits) -> Interrogation:
    """The interrogation with the creator's edits in place of the fields they changed."""
    changed = {name: value for name, value in edits.model_dump().items() if value is not None}
    return source.model_copy(update=changed)


def described(song_id: str, source: Interrogation, edits: DescriptionEdits) -> CharacterDescription:
    current = edited(source, edits)
    prompt = fitted_prompt(source, edits)
    fields = [
        DescribedField(
            field=name,
            label=LABELS[name],
            interrogated=getattr(source, name),
            text=getattr(current, name),
            edited=getattr(edits, name) is not None,
            changes=word_diff(getattr(source, name), getattr(current, name)),
        )
        for name in FIELDS
    ]
    return CharacterDescription(
        song_id=song_id,
        source=source.source,
        model=source.model,
        notes=source.notes,
        fields=fields,
        consistent_prompt=prompt.prompt,
        token_count=prompt.token_count,
        left_out=list(prompt.left_out),
    )


def describe(services: Services, song_id: str) -> CharacterDescription | None:
    """The song's description with edits applied; None before anything describes the character."""
    check_id("song_id", song_id)
    song = services.records.songs.song(song_id)
    source = interrogated(song)
    return None if source is None else described(song_id, source, edits_of(song))


def _checked(changes: dict[str, str]) -> dict[Field, str]:
    checked: dict[Field, str] = {}
    for name, value in changes.items():
        if name not in FIELDS:
            raise InvalidInput("field", f"{name!r} is not one of {', '.join(FIELDS)}")
        field: Field = name
        text = check_text(field, value, MAX_FIELD_CHARS).strip()
        if not text:
            raise InvalidInput(field, "must not be empty (revert the field to use the interrogated text)")
        checked[field] = text
    return checked


def save_edits(
    services: Services,
    song_id: str,
    changes: dict[str, str],
    *,
    reset: bool = False,
    actor: Actor | None = None,
) -> CharacterDescription:
    """Keep the creator's text for the given fields; text equal to the interrogated one is no edit.
    With `reset`, the other fields' edits are dropped in the same write.

    Nothing is written when a field is unknown or its text refused, or when nothing describes the song yet.
    Only creators edit (`actor`; without one, the local operator).
    """
    require(actor, "create")
    check_id("song_id", song_id)
    checked = _checked(changes)
    song = services.records.songs.song(song_id)
    source = interrogated(song)
    if source is None:
        if song is None:
            raise NotFound(f"song {song_id!r}")
        raise InvalidInput("song_id", f"{song_id!r} has no interrogation to edit yet")
    edits = (DescriptionEdits() if reset else edits_of(song)).model_copy(
        update={
            name: None if text == getattr(source, name).strip() else text for name, text in checked.items()
        }
    )
    _store(services, song_id, edits)
    return described(song_id, source, edits)


def revert(
    services: Services, song_id: str, fields: tuple[Field, ...] = FIELDS, *, actor: Actor | None = None
) -> CharacterDescription | None:
    """Drop the edits of `fields`: they read as interrogated again. Creators only."""
    require(actor, "create")
    check_id("song_id", song_id)
    song = services.records.songs.song(song_id)
    if song is None:
        return None
    edits = edits_of(song).model_copy(update=dict.fromkeys(fields))
    _store(services, song_id, edits)
    source = interrogated(song)
    return None if source is None else described(song_id, source, edits)


def _store(services: Services, song_id: str, edits: DescriptionEdits) -> None:
    value = None if edits == DescriptionEdits() else edits.model_dump_json(exclude_none=True)
    services.records.songs.update_song(song_id, character_interrogation_edits_json=value)
