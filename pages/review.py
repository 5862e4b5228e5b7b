"""Review: every reference of a job on one board; approve, reject with a reason, regenerate, export."""

from collections import Counter

import streamlit as st

from components.coverage import coverage_matrix, status_text
from components.identity import actor
from components.job_picker import job_picker
from components.priority_table import downstream_character
from components.review_board import filter_bar, keyboard_bar, live_refresh, reference_grid, selection_bar
from components.review_desk import ReviewDesk
from components.review_panel import lightbox
from components.setup import page_setup
from studio.review.export import HOW_TO_RENDER, export_manifest, is_preview
from studio.review.gate import review_board

EXPORT_LISTED = 6
services = page_setup()
st.title("Review")

picked = job_picker(services, key="review-job")
if picked is None:
    st.info("No jobs yet: generate references first.")
    st.page_link("pages/generate.py", label="Generate", icon=":material/movie:")
    st.stop()
job_id: str = picked

desk = ReviewDesk(services, job_id)
live_refresh(desk)
board = review_board(services, job_id)
counts = Counter[str](r.status for r in board.references)
for column, status in zip(st.columns(4), ("approved", "pending", "rejected", "missing"), strict=True):
    column.metric(status_text(status), counts.get(status, 0))
with st.expander("Coverage: scene x character", expanded=False):
    coverage_matrix(board)
if not desk.lightbox_open:
    desk.show_flash()

who = actor()
options, reviewer = st.columns([3, 1], vertical_alignment="bottom")
with options:
    board_filter = filter_bar(desk, board)
if who.may("review"):
    reviewer.caption(f":material/verified_user: Deciding as **{who.who}**, recorded in the audit trail.")
else:
    reviewer.caption(
        f":material/lock: Only reviewers approve or reject; you are {who.who} ({who.role_names})."
    )
cursor = desk.cursor(board)
keyboard_bar(desk, board, cursor)
shown = board.matching(board_filter)
selection_bar(desk, board, shown)
reference_grid(services, desk, shown, cursor)
if desk.lightbox_open and cursor is not None:
    lightbox(services, desk)

st.divider()
st.subheader("Character for clip generation")
downstream_character(services, board.song_id)
st.subheader("Export for clip generation")
if board.unapproved:
    waiting = Counter[str](board.unapproved.values())
    first = list(board.unapproved.items())[:EXPORT_LISTED]
    listed = ", ".join(f"{ref} ({status})" for ref, status in first)
    more = f" and {len(board.unapproved) - len(first)} more" if len(board.unapproved) > len(first) else ""
    st.error(
        "Export refused: every reference must be approved first ("
        + ", ".join(f"{count} {status}" for status, count in waiting.items())
        + f"). Not approved: {listed}{more}."
    )
else:
    previews = [r.ref for r in board.references if r.latest is not None and is_preview(r.latest)]
    allow_preview = False
    if previews:
        st.warning(f"{len(previews)} references are offline previews, not real renders: {HOW_TO_RENDER}.")
        allow_preview = st.checkbox("Export the previews anyway", key="export-allow-preview")
    st.download_button(
        "Download the manifest (JSON)",
        disabled=bool(previews) and not allow_preview,
        data=lambda: export_manifest(
            services, job_id, actor=who, allow_preview=allow_preview
        ).model_dump_json(indent=2),
        file_name=f"manifest-{job_id}.json",
        mime="application/json",
        type="primary",
        key="export-manifest",
        icon=":material/download:",
        on_click="ignore",
    )
    st.caption(f"{len(board.references)} approved references; URLs are signed when you download.")
