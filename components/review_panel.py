"""The lightbox: the reference under the cursor as large as the screen allows, beside its prompt and PNG
parameters; approve or reject it, regenerate it once rejected, compare its versions (the newest pair first,
what changed) and read its audit trail.

It follows the board's cursor and holds the keys while it is open (previous, next, approve, reject).
"""

from __future__ import annotations

import json

import streamlit as st

from components.coverage import card_status, status_badge
from components.regenerate_form import regenerate_form
from components.review_board import action_bar
from components.review_desk import ReviewDesk
from components.word_changes import show_changes
from studio.errors import InvalidInput, NotFound
from studio.money import usd
from studio.references.gallery import full_image, thumbnail
from studio.review.gate import ReferenceReview, ReferenceVersion, review_board
from studio.review.regeneration import version_diff
from studio.services import Services

COMPARE_PX = 512
FIT_SCREEN = (
    "<style>[role=dialog] [data-testid=stImage] img {max-height: 62vh; width: auto !important;"
    " max-width: 100%; object-fit: contain; margin: 0 auto}</style>"
)
FOCUS = {
    "reason": (
        "const a = document.activeElement;"
        "if (a === document.body || a?.getAttribute('role') === 'dialog')"
        " document.querySelector({target} + ' input')?.focus()"
    ),
    "blur": "document.activeElement?.blur()",
}


def _focus(desk: ReviewDesk, ref: str) -> None:
    """Put the keyboard where the reviewer needs it next: in the reason field, or back on the board."""
    wanted = desk.take_once("focus")
    if wanted in FOCUS:
        target = json.dumps(f".st-key-{desk.key(f'reason-{ref}')}")
        script = FOCUS[wanted].format(target=target)
        # the reason again for three seconds while nothing else has the focus: the dialog opening in the same
        # redraw takes it for itself, once as it opens and once as the run ends
        delays = list(range(60, 3000, 120)) if wanted == "reason" else [60]
        st.html(
            f"<script>{delays}.forEach(t => setTimeout(() => {{{script}}}, t))</script>",
            unsafe_allow_javascript=True,
        )


def _parameters(services: Services, version: ReferenceVersion) -> None:
    """The `parameters` chunk read back from the PNG itself, as AUTOMATIC1111 writes it (the prompt first)."""
    try:
        text = thumbnail(services, version.storage_key, content_id=version.content_id).parameters
    except (NotFound, InvalidInput):
        text = None
    with st.container(height=220, border=False):
        shown = text or f"{version.prompt}\n(the image has no parameters chunk)"
        st.code(shown, language=None, wrap_lines=True)
    st.caption(f"{version.provider} · {version.model_version} · {usd(version.cost)}")


def _reject_form(desk: ReviewDesk, ref: str) -> None:
    """Not cleared on submit: after "a rejection needs a reason" the reviewer types on, and keeps every key
    (the desk empties the field once the rejection is recorded)."""
    with st.form(desk.key(f"reject-form-{ref}"), clear_on_submit=False, border=False):
        st.text_input(
            "Reason (required to reject)",
            key=desk.key(f"reason-{ref}"),
            placeholder="e.g. too dark, wrong coat",
        )
        st.form_submit_button(
            "Reject", icon=":material/close:", on_click=desk.reject, args=(ref,), disabled=not desk.may_review
        )


def lightbox_body(services: Services, desk: ReviewDesk) -> None:
    """Reads the board and the cursor itself: its own actions redraw only the lightbox."""
    board = review_board(services, desk.job_id)
    ref = desk.cursor(board)
    if ref is None:
        st.info("No references.")
        return
    reference = board.reference(ref)
    latest = reference.latest
    head = st.container(horizontal=True, vertical_alignment="center")
    head.markdown(f"### `{ref}`")
    with head:
        status_badge(card_status(reference), f" · v{reference.version}" if reference.version else "")
    action_bar(desk, board, ref)
    desk.show_flash(board)
    if latest is None:
        st.info(f"No image yet (generation: {reference.generation}).")
        if reference.error:
            st.error(reference.error)
        return
    picture, side = st.columns([3, 2])
    with picture:
        st.html(FIT_SCREEN)
        try:
            st.image(full_image(services, latest.storage_key), width="stretch")
        except NotFound:
            st.warning("The image is missing from storage.")
        if reference.description:
            st.caption(f"Should show: {reference.description}")
        if latest.note:
            st.caption(f"Made because: {latest.note}")
    with side:
        _parameters(services, latest)
        _reject_form(desk, ref)
        _focus(desk, ref)
        if reference.status == "rejected" and board.job_status in ("queued", "running"):
            st.info(f"A new version of {ref} is on its way ({board.job_status}); it shows here on arrival.")
        elif reference.status == "rejected":
            regenerate_form(desk, reference)
    compare, trail = st.tabs(["Compare versions", "Audit trail"])
    with compare:
        compare_versions(services, desk, reference)
    with trail:
        audit_trail(reference)


def lightbox(services: Services, desk: ReviewDesk) -> None:
    """The lightbox as a modal dialog; Esc or its close button brings the keys back to the board."""
    dialog = st.dialog("Reference", width="large", on_dismiss=desk.close_lightbox)
    dialog(lightbox_body)(services, desk)


def version_status(reference: ReferenceReview, number: int) -> str:
    """A version's status as it stands: an older version nobody decided on was superseded, not pending."""
    version = next(v for v in reference.versions if v.version == number)
    if version.decisions or number == reference.version:
        return str(version.status)
    return "superseded"


def compare_versions(services: Services, desk: ReviewDesk, reference: ReferenceReview) -> None:
    """What changed between two versions (default: the newest pair), then both images."""
    numbers = [v.version for v in reference.versions][::-1]
    if len(numbers) < 2:
        st.caption("Only one version so far: a regeneration adds the next one here.")
        return
    by_number = {v.version: v for v in reference.versions}
    newest = numbers[0]
    # keyed by the newest version: when one arrives, the comparison starts again from the newest pair
    chosen = sorted(
        column.selectbox(
            f"Version ({side})",
            numbers,
            index=numbers.index(default),
            format_func=lambda n: f"v{n} · {version_status(reference, n)}",
            key=desk.key(f"compare-{side}-{reference.ref}-{newest}"),
        )
        for column, default, side in zip(st.columns(2), (numbers[1], newest), ("older", "newer"), strict=True)
    )
    diff = version_diff(reference, chosen[0], chosen[1])
    if diff.unchanged:
        st.caption("Same prompt, negative prompt and seed.")
    show_changes("Prompt", diff.prompt)
    show_changes("Negative prompt", diff.negative_prompt)
    seed = f"{diff.older_seed} → {diff.newer_seed}" if diff.seed_changed else f"{diff.newer_seed} (same)"
    st.markdown(f"**Seed** {seed}" + (f" · **why v{diff.newer}:** {diff.note}" if diff.note else ""))
    for column, number in zip(st.columns(2), chosen, strict=True):
        version = by_number[number]
        try:
            shown = thumbnail(services, version.storage_key, content_id=version.content_id, size=COMPARE_PX)
            column.image(shown.data, caption=f"v{number} · seed {version.seed}", width="stretch")
        except (NotFound, InvalidInput):
            column.caption(f"v{number}: image missing from storage")


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
                "via": d.via,
                "at": d.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            }
            for d in sorted(decisions, key=lambda d: d.created_at)
        ],
        hide_index=True,
        width="stretch",
    )
