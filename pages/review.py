"""Review: every reference of a job on one board; approve, reject with a reason, regenerate, export."""

from collections import Counter

import streamlit as st

from components.coverage import coverage_matrix
from components.identity import actor
from components.job_picker import job_picker
from components.priority_table import downstream_character
from components.review_board import live_refresh, reference_board
from components.review_desk import ReviewDesk
from components.review_panel import lightbox
from components.setup import page_setup
from studio.review.export import HOW_TO_RENDER, export_manifest, is_preview
from studio.review.gate import review_board

EXPORT_LISTED = 6
services = page_setup()
st.set_page_config(layout="wide")
st.html("<style>[data-testid=stMainBlockContainer]{padding-top:2.5rem}</style>")
head, picker, who_column = st.columns([1.7, 3, 3], vertical_alignment="bottom")
head.title("Review")
with picker:
    picked = job_picker(services, key="review-job")
if picked is None:
    st.info("No jobs yet: generate references first.")
    st.page_link("pages/generate.py", label="Generate", icon=":material/movie:")
    st.stop()
job_id: str = picked

desk = ReviewDesk(services, job_id)
live_refresh(desk)
board = review_board(services, job_id)
who = actor()
if who.may("review"):
    who_column.caption(f":material/verified_user: Deciding as **{who.who}**, recorded in the audit trail.")
else:
    who_column.caption(
        f":material/lock: Only reviewers approve or reject; you are {who.who} ({who.role_names})."
    )
if not desk.lightbox_open:
    desk.show_flash(board)
if not board.references:
    st.info("No references.")
failed = sum(1 for r in board.references if r.failed)
if failed:
    st.button(
        f"Retry the failed ({failed})", icon=":material/refresh:", on_click=desk.retry, key=desk.key("retry")
    )
reference_board(desk, board)
if desk.lightbox_open and desk.cursor(board) is not None:
    lightbox(services, desk)

st.divider()
if st.toggle("Coverage: scene x character", key=desk.key("coverage")):  # drawn only when asked for
    coverage_matrix(board)
st.subheader("Character for clip generation")
downstream_character(services, board.song_id)
st.subheader("Export for clip generation")
total = len(board.references)
previews = [r.ref for r in board.references if r.latest is not None and is_preview(r.latest)]
approved_all = not board.unapproved
checklist = ["**Before exporting**"]
if approved_all:
    checklist.append(f"- :material/check_circle: every reference approved ({total} of {total})")
else:
    waiting = Counter[str](board.unapproved.values())
    first = list(board.unapproved)[:EXPORT_LISTED]
    more = f" and {len(board.unapproved) - len(first)} more" if len(board.unapproved) > len(first) else ""
    left = ", ".join(f"{count} {status}" for status, count in waiting.items())
    checklist.append(
        f"- :material/radio_button_unchecked: approve every reference: {total - len(board.unapproved)} of "
        f"{total} approved so far ({left}: {', '.join(first)}{more})"
    )
if previews:
    checklist.append(
        f"- :material/radio_button_unchecked: {len(previews)} of them are offline previews, not real "
        f"renders: {HOW_TO_RENDER}"
    )
else:
    checklist.append("- :material/check_circle: real renders, no offline previews")
st.markdown("\n".join(checklist))
allow_preview = bool(previews) and st.checkbox(
    "Export the previews anyway", key="export-allow-preview", disabled=not approved_all
)
st.download_button(
    "Download the manifest (JSON)",
    disabled=not approved_all or (bool(previews) and not allow_preview),
    data=lambda: export_manifest(services, job_id, actor=who, allow_preview=allow_preview).model_dump_json(
        indent=2
    ),
    file_name=f"manifest-{job_id}.json",
    mime="application/json",
    type="primary",
    key="export-manifest",
    icon=":material/download:",
    on_click="ignore",
)
st.caption("The manifest's URLs are signed when you download it.")
