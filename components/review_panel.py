"""The lightbox: the reference under the cursor at full size with its PNG parameters, approve or reject it,
regenerate it once rejected, compare its versions (what changed) and read its audit trail.

It follows the board's cursor, so the keyboard bar's keys (previous, next, approve) work while it is open.
"""

from __future__ import annotations

import json

import streamlit as st

from components.coverage import card_status, status_badge
from components.regenerate_form import regenerate_form, show_changes
from components.review_desk import ReviewDesk
from studio.errors import InvalidInput, NotFound, StudioError
from studio.gallery import full_image, thumbnail
from studio.money import usd
from studio.regeneration import version_diff
from studio.review import ReferenceReview, ReferenceVersion, ReviewBoard, reject
from studio.services import Services

COMPARE_PX = 512
FOCUS = {
    "reason": "document.querySelector({target} + ' input')?.focus()",
    "blur": "document.activeElement?.blur()",
}


def _focus(desk: ReviewDesk, ref: str) -> None:
    """Put the keyboard where the reviewer needs it next: in the reason field, or back on the board."""
    wanted = desk.take_once("focus")
    if wanted in FOCUS:
        target = json.dumps(f".st-key-{desk.key(f'reason-{ref}')}")
        script = FOCUS[wanted].format(target=target)
        st.html(f"<script>setTimeout(() => {{{script}}}, 60)</script>", unsafe_allow_javascript=True)


def _parameters(studio: Services, version: ReferenceVersion) -> None:
    """The `parameters` chunk read back from the PNG itself, as AUTOMATIC1111 writes it."""
    try:
        text = thumbnail(studio, version.storage_key, content_id=version.content_id).parameters
    except (NotFound, InvalidInput):
        text = None
    st.code(text or "(the image has no parameters chunk)", language=None, wrap_lines=True)
    st.caption(f"{version.provider} · {version.model_version} · {usd(version.cost)}")


def _decide(desk: ReviewDesk, reference: ReferenceReview) -> None:
    ref = reference.ref
    if st.button("Approve", icon=":material/check:", type="primary", key=desk.key(f"approve-{ref}")):
        desk.approve_cursor()
        st.rerun()
    with st.form(desk.key(f"reject-form-{ref}"), clear_on_submit=True, border=False):
        reason = st.text_input(
            "Reason (required to reject)",
            key=desk.key(f"reason-{ref}"),
            placeholder="e.g. too dark, wrong coat",
        )
        if st.form_submit_button("Reject", icon=":material/close:"):
            try:
                decision = reject(desk.studio, desk.job_id, ref, reason, desk.reviewer())
            except StudioError as error:
                st.error(str(error))
            else:
                desk.flash("success", f"{ref} v{decision.version} rejected: {decision.reason}")
                st.session_state[desk.key("focus")] = "blur"
                st.rerun()


def lightbox_body(studio: Services, desk: ReviewDesk, board: ReviewBoard, ref: str) -> None:
    reference = board.reference(ref)
    latest = reference.latest
    shown = [r.ref for r in board.matching(desk.filter)]
    position = f"{shown.index(ref) + 1} of {len(shown)} shown" if ref in shown else "not in the filter"
    head = st.container(horizontal=True, vertical_alignment="center")
    head.markdown(f"### `{ref}`")
    with head:
        status_badge(card_status(reference), f" · v{reference.version}" if reference.version else "")
    head.caption(f"{position} · ← → move · A approve · X reject · Esc close")
    desk.show_flash()
    if latest is None:
        st.info(f"No image yet (generation: {reference.generation}).")
        if reference.error:
            st.error(reference.error)
        return
    picture, side = st.columns([3, 2])
    with picture:
        try:
            st.image(full_image(studio, latest.storage_key), width="stretch")
        except NotFound:
            st.warning("The image is missing from storage.")
        if latest.note:
            st.caption(f"Made because: {latest.note}")
    with side:
        _decide(desk, reference)
        _focus(desk, ref)
        if reference.status == "rejected":
            regenerate_form(desk, reference)
        elif reference.generation in ("queued", "generating"):
            st.info(f"v{latest.version + 1} is {reference.generation}; it appears here when it arrives.")
    parameters, compare, trail = st.tabs(["Parameters", "Compare versions", "Audit trail"])
    with parameters:
        _parameters(studio, latest)
    with compare:
        compare_versions(studio, desk, reference)
    with trail:
        audit_trail(reference)


def lightbox(studio: Services, desk: ReviewDesk, board: ReviewBoard, ref: str) -> None:
    """The lightbox as a modal dialog; Esc or the close button closes it for good."""
    st.dialog("Reference", width="large", on_dismiss=desk.close_lightbox)(lightbox_body)(
        studio, desk, board, ref
    )


def compare_versions(studio: Services, desk: ReviewDesk, reference: ReferenceReview) -> None:
    """Two versions side by side (default: the one before and the latest) and what changed between them."""
    numbers = [v.version for v in reference.versions]
    if len(numbers) < 2:
        st.caption("Only one version so far: a regeneration adds the next one here.")
        return
    by_number = {v.version: v for v in reference.versions}
    chosen = []
    for column, default, side in zip(st.columns(2), numbers[-2:], ("older", "newer"), strict=True):
        with column:
            number = st.selectbox(
                f"Version ({side})",
                numbers,
                index=numbers.index(default),
                format_func=lambda n: f"v{n} · {by_number[n].status}",
                key=desk.key(f"compare-{side}-{reference.ref}"),
            )
            version = by_number[number]
            try:
                shown = thumbnail(studio, version.storage_key, content_id=version.content_id, size=COMPARE_PX)
                st.image(shown.data, caption=f"v{number} · seed {version.seed}", width="stretch")
            except (NotFound, InvalidInput):
                st.caption(f"v{number}: image missing from storage")
            chosen.append(number)
    diff = version_diff(reference, chosen[0], chosen[1])
    if diff.unchanged:
        st.caption("Same prompt, negative prompt and seed.")
    older, newer = by_number[chosen[0]], by_number[chosen[1]]
    show_changes("Prompt", older.prompt, newer.prompt)
    show_changes("Negative prompt", older.negative_prompt, newer.negative_prompt)
    seed = (
        f"**Seed** {diff.older_seed} → {diff.newer_seed}"
        if diff.seed_changed
        else f"**Seed** {diff.newer_seed}"
    )
    st.markdown(seed + (f" · **note of v{diff.newer}:** {diff.note}" if diff.note else ""))


def audit_trail(reference: ReferenceReview) -> None:
    decisions = [d for v in reference.versions for d in v.decisions]
    if not decisions:
        st.caption("No decisions yet.")
        return
    st.dataframe(
        [
            {
                "version": f"v{d.version}",
                "decision": d.decision,
                "reason": d.reason or "",
                "reviewer": d.reviewer,
                "at": d.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            }
            for d in sorted(decisions, key=lambda d: d.created_at)
        ],
        hide_index=True,
        width="stretch",
    )
