"""Review: approve or reject each reference (a reason is required), regenerate rejected ones, export."""

from collections import Counter

import streamlit as st

from components.coverage import coverage_matrix, queue_label, status_text
from components.job_picker import job_picker
from components.review_panel import audit_trail, compare_versions, large_view
from components.setup import page_setup
from studio.errors import StudioError
from studio.regeneration import RegenerationRequest, regenerate_rejected
from studio.review import (
    ReviewBoard,
    approve,
    default_reviewer,
    export_manifest,
    reject,
    review_board,
)

FLASH = "review-flash"
studio = page_setup()
st.title("Review")

job_id = job_picker(studio, key="review-job")
if job_id is None:
    st.info("No jobs yet: generate references first.")
    st.page_link("pages/generate.py", label="Generate", icon=":material/movie:")
    st.stop()
selected = f"review-ref-{job_id}"


def _next_pending(board: ReviewBoard, after: str) -> str:
    refs = [r.ref for r in board.references]
    later = refs[refs.index(after) + 1 :] + refs
    return next((ref for ref in later if ref in board.pending and ref != after), after)


def _decide(ref: str, approving: bool) -> None:
    reviewer = st.session_state.get("reviewer-name") or None
    try:
        if approving:
            decision = approve(studio, job_id, ref, reviewer)
        else:
            decision = reject(studio, job_id, ref, st.session_state.get(f"reason-{ref}", ""), reviewer)
    except StudioError as error:
        st.session_state[FLASH] = ("error", str(error))
        return
    st.session_state[FLASH] = ("success", f"{ref} v{decision.version} {decision.decision}.")
    if approving:
        st.session_state[selected] = _next_pending(review_board(studio, job_id), ref)


def _regenerate(ref: str) -> None:
    try:
        regenerate_rejected(
            studio, job_id, ref, RegenerationRequest(st.session_state.get(f"note-{ref}") or "")
        )
    except StudioError as error:
        st.session_state[FLASH] = ("error", str(error))
    else:
        st.session_state[FLASH] = ("success", f"{ref}: a new version is queued; it will be pending review.")


board = review_board(studio, job_id)
counts = Counter(r.status for r in board.references)
for column, status in zip(st.columns(4), ("approved", "pending", "rejected", "missing"), strict=True):
    column.metric(status_text(status), counts.get(status, 0))
with st.expander("Coverage: scene x character", expanded=False):
    coverage_matrix(board)

if FLASH in st.session_state:
    kind, message = st.session_state.pop(FLASH)
    (st.success if kind == "success" else st.error)(message)

reviewable = [r for r in board.references if r.version is not None]
if reviewable:
    refs = [r.ref for r in reviewable]
    if st.session_state.get(selected) not in refs:
        st.session_state[selected] = board.pending[0] if board.pending else refs[0]
    labels = {r.ref: queue_label(r) for r in reviewable}
    st.caption("Pending: " + (", ".join(board.pending) or "none — every stored reference has a decision."))
    ref = st.selectbox("Reference", refs, format_func=labels.__getitem__, key=selected)
    reference = board.reference(ref)
    st.text_input("Reviewer", value=default_reviewer(), key="reviewer-name")
    approve_column, reject_column = st.columns(2)
    approve_column.button(
        "Approve and go to the next pending",
        type="primary",
        shortcut="A",
        on_click=_decide,
        args=(ref, True),
        key=f"approve-{ref}",
        icon=":material/check:",
    )
    with reject_column.form(f"reject-form-{ref}", clear_on_submit=True, border=False):
        st.text_input(
            "Reason (required to reject)", key=f"reason-{ref}", placeholder="e.g. too dark, wrong coat"
        )
        st.form_submit_button("Reject", on_click=_decide, args=(ref, False), icon=":material/close:")
    if reference.status == "rejected":
        st.text_input("What to change in the prompt", key=f"note-{ref}")
        st.button("Regenerate with the note", on_click=_regenerate, args=(ref,), key=f"regenerate-{ref}")
    view, compare, trail = st.tabs(["Large view", "Compare versions", "Audit trail"])
    with view:
        large_view(studio, reference)
    with compare:
        compare_versions(studio, reference)
    with trail:
        audit_trail(reference)
else:
    st.info(f"Job {job_id} has no stored images yet ({board.job_status}).")

st.divider()
st.subheader("Export for clip generation")
if board.unapproved:
    listed = ", ".join(f"{ref} ({status})" for ref, status in board.unapproved.items())
    st.error(f"Export refused: every reference must be approved first. Not approved: {listed}")
else:
    st.download_button(
        "Download the manifest (JSON)",
        data=lambda: export_manifest(studio, job_id).model_dump_json(indent=2),
        file_name=f"manifest-{job_id}.json",
        mime="application/json",
        type="primary",
        key="export-manifest",
        icon=":material/download:",
        on_click="ignore",
    )
    st.caption(f"{len(board.references)} approved references; URLs are signed when you download.")
