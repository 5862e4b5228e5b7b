"""Regenerating a rejected reference from the lightbox: what to change, where it goes, and a preview of both
prompts with their CLIP token counts and the words that change, before anything is queued."""

from __future__ import annotations

import streamlit as st

from components.review_desk import ReviewDesk
from components.word_changes import show_changes
from studio.errors import StudioError
from studio.prompts.changes import word_diff
from studio.review.gate import ReferenceReview
from studio.review.regeneration import (
    TARGET_WORDS,
    ChangeTarget,
    RegenerationRequest,
    preview_regeneration,
)


def regenerate_form(desk: ReviewDesk, reference: ReferenceReview) -> None:
    latest = reference.latest
    if latest is None or not latest.decisions:
        return
    ref = reference.ref
    rejection = latest.decisions[-1]
    st.markdown("#### Regenerate")
    st.caption(
        f"v{latest.version} was rejected by {rejection.reviewer}: “{rejection.reason}”. Say what the image "
        "should show instead (the reason is a start); the prompt is made again from the scene with it, and "
        "a time of day or light in it replaces the plan's. Nothing is paid before you press Regenerate."
    )
    change = st.text_input(
        "What to change",
        value=rejection.reason or "",
        key=desk.change_key(ref, latest.version),
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
        preview = preview_regeneration(desk.services, desk.job_id, ref, RegenerationRequest(change, target))
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
