"""Regenerating a rejected reference from the lightbox: what to change, where it goes, and a preview of both
prompts with their CLIP token counts and the words that change, before anything is queued."""

from __future__ import annotations

import html

import streamlit as st

from components.review_desk import ReviewDesk
from studio.errors import StudioError
from studio.regeneration import (
    TARGET_WORDS,
    ChangeTarget,
    RegenerationRequest,
    WordChange,
    preview_regeneration,
    word_diff,
)
from studio.review import ReferenceReview

ADDED = "background: rgba(33, 195, 84, 0.35); text-decoration: none; border-radius: 3px; padding: 0 2px;"
REMOVED = "background: rgba(255, 75, 75, 0.3); border-radius: 3px; padding: 0 2px;"
PROSE = "font-family: 'Source Code Pro', monospace; font-size: 0.85rem; line-height: 1.6;"


def changes_html(changes: list[WordChange]) -> str:
    """Words as HTML: added ones in green `<ins>`, removed ones struck through in red `<del>`."""
    parts: list[str] = []
    for word in changes:
        text = html.escape(word.text.replace(" ,", ","))
        if word.change == "added":
            text = f'<ins style="{ADDED}">{text}</ins>'
        elif word.change == "removed":
            text = f'<del style="{REMOVED}">{text}</del>'
        parts.append(("" if not parts or word.text.startswith(",") else " ") + text)
    return f'<div style="{PROSE}">{"".join(parts) or "<em>(empty)</em>"}</div>'


def show_changes(label: str, changes: list[WordChange], tokens: int | None = None, limit: int = 75) -> None:
    """One prompt's word diff under a label, with its token count (red past CLIP's limit)."""
    count = ""
    if tokens is not None:
        colour = "red" if tokens > limit else "gray"
        count = f" · :{colour}[{tokens} / {limit} CLIP tokens]"
    st.markdown(f"**{label}**{count}")
    st.html(changes_html(changes))


def regenerate_form(desk: ReviewDesk, reference: ReferenceReview) -> None:
    latest = reference.latest
    if latest is None or not latest.decisions:
        return
    ref = reference.ref
    rejection = latest.decisions[-1]
    st.markdown("#### Regenerate")
    st.caption(
        f"v{latest.version} was rejected by {rejection.reviewer}: “{rejection.reason}”. The reason stays in "
        "the audit trail and the new version's note; it is not added to the prompt."
    )
    change = st.text_input(
        "What to change",
        key=desk.key(f"change-{ref}"),
        placeholder="e.g. warm evening light, red coat (empty: only a new seed)",
    )
    target: ChangeTarget = st.radio(
        "Add it to",
        list(TARGET_WORDS),
        format_func=TARGET_WORDS.__getitem__,
        horizontal=True,
        key=desk.key(f"target-{ref}"),
    )
    try:
        preview = preview_regeneration(desk.studio, desk.job_id, ref, RegenerationRequest(change, target))
    except StudioError as error:
        st.error(str(error))
        return
    limit = preview.token_limit
    show_changes("New prompt", word_diff(latest.prompt, preview.prompt), preview.prompt_tokens, limit)
    negative = word_diff(latest.negative_prompt, preview.negative_prompt)
    show_changes("New negative prompt", negative, preview.negative_tokens, limit)
    seed = f"seed {preview.seed} (locked)" if preview.seed_locked else f"seed {latest.seed} → {preview.seed}"
    st.caption(f"{seed} · note: {preview.note}")
    if preview.over_limit:
        names = " and ".join(TARGET_WORDS[name] for name in preview.over_limit)
        st.warning(
            f"The {names} is past CLIP's {preview.token_limit} tokens: the words at the end are not seen."
        )
    st.button(
        "Regenerate",
        icon=":material/autorenew:",
        type="primary",
        on_click=desk.regenerate,
        args=(ref, latest.version),
        disabled=not desk.actor().may("create"),
        help=None if desk.actor().may("create") else "Only creators regenerate (it spends).",
        key=desk.key(f"regenerate-{ref}"),
    )
