"""The character's description: the interrogation with the creator's edits, what differs, and the
consistent-character prompt made from it with its CLIP token count."""

from __future__ import annotations

import hashlib

import streamlit as st

from components.identity import actor
from components.word_changes import show_changes
from studio.characters.descriptions import CharacterDescription, describe, revert, save_edits
from studio.characters.overview import requeue_consistency
from studio.errors import InvalidInput
from studio.services import Services


def _key(song_id: str, field: str, text: str) -> str:
    """A text area's key follows the text in use, so a re-run interrogation shows its new words."""
    return f"describe-{song_id}-{field}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _editor(services: Services, found: CharacterDescription) -> None:
    song_id = found.song_id
    edited = " · **edited**" if found.edited else ""
    st.caption(f"Source: {found.source} · model {found.model}{edited}")
    for note in found.notes:
        st.info(f"Note: {note}.", icon=":material/info:")
    with st.form(f"describe-{song_id}", border=False):
        texts = {
            field.field: st.text_area(
                field.label + (" (edited)" if field.edited else ""),
                value=field.text,
                key=_key(song_id, field.field, field.text),
                height=120 if field.field == "prompt" else 80,
            )
            for field in found.fields
        }
        saved = st.form_submit_button("Save edits", icon=":material/save:")
    if saved:
        changed: dict[str, str] = {
            name: text for name, text in texts.items() if text != _current(found, name)
        }
        try:
            save_edits(services, song_id, changed, actor=actor())
        except InvalidInput as error:
            st.error(f"**{error.field}**: {error.problem}")
        else:
            st.rerun()
    for field in found.fields:
        if field.edited:
            show_changes(f"{field.label}: your edit against the interrogation", field.changes)
    if found.edited and st.button(
        "Revert to the interrogation", icon=":material/undo:", key=f"revert-description-{song_id}"
    ):
        revert(services, song_id, actor=actor())
        st.rerun()


def _current(found: CharacterDescription, name: str) -> str:
    return next(field.text for field in found.fields if field.field == name)


def consistent_prompt_panel(found: CharacterDescription) -> None:
    colour = "red" if found.token_count > found.token_limit else "gray"
    st.markdown(
        f"**Consistent-character prompt** · :{colour}[{found.token_count} / {found.token_limit} CLIP tokens]"
    )
    st.caption(found.consistent_prompt)
    if found.left_out:
        st.caption(
            "Left out (SDXL reads 75 tokens; your edits come first, quality words last): "
            + "; ".join(found.left_out)
        )


def description_editor(services: Services, song_id: str, uploaded: bool) -> None:
    """What describes the song's character (editable), and a button to interrogate the upload again."""
    found = describe(services, song_id)
    if found is None:
        st.caption(
            "No interrogation yet: it runs in the consistency job after a pose-A upload "
            "(a template is described by its own words)."
        )
    else:
        _editor(services, found)
        consistent_prompt_panel(found)
    if st.button(
        "Re-run interrogation",
        icon=":material/refresh:",
        key=f"reinterrogate-{song_id}",
        disabled=not uploaded,
        help="Your edits are kept; the consistency job makes a new look from the new interrogation.",
    ):
        try:
            requeue_consistency(services, song_id, actor=actor())
        except InvalidInput as error:
            st.error(f"**{error.field}**: {error.problem}")
        else:
            st.rerun()
