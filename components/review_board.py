"""The review board: every reference of a job as a card (thumbnail, status badge, version), filters, a
selection to approve at once, the keyboard bar (previous, next, approve, reject, open) and a live refresh."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from components.coverage import card_status, status_badge
from components.review_desk import ReviewDesk
from studio.references.gallery import Thumbnail, thumbnails
from studio.review.gate import BOARD_FILTERS, BoardFilter, ReferenceReview, ReviewBoard, board_fingerprint
from studio.services import Services

COLUMNS = 6
PAGE_SIZE = 48
REFRESH_SECONDS = 1.0
ERROR_CHARS = 60
CURSOR_STYLE = "outline: 3px solid #FF7A59; outline-offset: 2px; border-radius: 0.5rem;"
DECIDE_KEYS = "Keys: ← previous · → next · A approve · X reject (type the reason, Enter)"
KEYS = f"{DECIDE_KEYS} · V open the lightbox"
LIGHTBOX_KEYS = f"{DECIDE_KEYS} · Esc back to the board"


def live_refresh(desk: ReviewDesk) -> None:
    """Redraw the page as soon as the job's fingerprint differs from the one this run drew.

    While the lightbox is open, the reviewer's own decisions show there; only new versions and the job's
    status redraw the page then (a full redraw blinks the lightbox).
    """
    decisions = not desk.lightbox_open
    seen = board_fingerprint(desk.services, desk.job_id, decisions=decisions)

    def watch() -> None:
        if board_fingerprint(desk.services, desk.job_id, decisions=decisions) != seen:
            st.rerun()

    st.fragment(watch, run_every=REFRESH_SECONDS)()


def filter_bar(desk: ReviewDesk, board: ReviewBoard) -> BoardFilter:
    counts = board.counts()
    chosen: BoardFilter = st.segmented_control(
        "Show",
        BOARD_FILTERS,
        default="all",
        required=True,
        format_func=lambda name: f"{name} · {counts[name]}",
        key=desk.key("filter"),
        on_change=desk.clear_flash,
    )
    return chosen


def action_bar(desk: ReviewDesk, board: ReviewBoard, cursor: str, *, place: str, keys: bool) -> None:
    """Previous, next, approve, reject (and open, on the board) for the reference under the cursor.

    With `keys`, each has its keyboard shortcut. Only one bar holds them at a time: the lightbox's while it
    is open (its actions then redraw only the lightbox; a full redraw would blink it), else the board's.
    """
    reference = board.reference(cursor)
    shown = [r.ref for r in board.matching(desk.filter)]
    undecidable = reference.version is None or not desk.may_review
    actions: list[tuple[str, str, str, Callable[..., None], dict[str, Any], bool]] = [
        ("Previous", "arrow_back", "Left", desk.move, {"offset": -1}, False),
        ("Next", "arrow_forward", "Right", desk.move, {"offset": 1}, False),
        ("Approve", "check", "A", desk.approve_cursor, {}, undecidable),
        ("Reject…", "close", "X", desk.open_lightbox, {"to_reject": True}, undecidable),
    ]
    if place == "board":
        actions.append(("Open", "open_in_full", "V", desk.open_lightbox, {}, False))
    bar = st.container(horizontal=True, vertical_alignment="center", key=desk.key(f"{place}-keys"))
    for label, icon, shortcut, callback, kwargs, disabled in actions:
        bar.button(
            label,
            icon=f":material/{icon}:",
            type="primary" if label == "Approve" else "secondary",
            shortcut=shortcut if keys else None,
            on_click=callback,
            kwargs=kwargs,
            disabled=disabled,
            key=desk.key(f"{place}-{label.strip('…').lower()}"),
        )
    version = f" v{reference.version}" if reference.version else ""
    position = f"{shown.index(cursor) + 1} of {len(shown)}" if cursor in shown else "outside the filter"
    if place == "board":
        bar.markdown(f"**`{cursor}`**{version} · {card_status(reference)} · {position}")
        bar.html(f"<style>.st-key-{desk.key('card')}-{cursor} {{{CURSOR_STYLE}}}</style><span hidden></span>")
    st.caption(KEYS if place == "board" else f"{position} · {LIGHTBOX_KEYS}")


def keyboard_bar(desk: ReviewDesk, board: ReviewBoard, cursor: str | None) -> None:
    """The board's action bar; its keys move to the lightbox while that is open."""
    if cursor is None:
        st.info(f"No {desk.filter} references." if desk.filter != "all" else "No references.")
        return
    action_bar(desk, board, cursor, place="board", keys=not desk.lightbox_open)
    if desk.take_once("scroll"):
        target = json.dumps(f".st-key-{desk.key('card')}-{cursor}")
        st.html(
            f"<script>document.querySelector({target})?.scrollIntoView({{block: 'nearest'}})</script>",
            unsafe_allow_javascript=True,
        )


def selection_bar(desk: ReviewDesk, board: ReviewBoard, shown: list[ReferenceReview]) -> None:
    pending = [r.ref for r in shown if r.status == "pending"]
    chosen = [ref for ref in board.pending if ref in desk.selected]
    bar = st.container(horizontal=True, vertical_alignment="center")
    bar.button(
        f"Approve selected ({len(chosen)})",
        icon=":material/done_all:",
        type="primary",
        disabled=not chosen or not desk.may_review,
        on_click=desk.approve_selected,
        key=desk.key("approve-selected"),
    )
    bar.button(
        f"Select every pending one shown ({len(pending)})",
        disabled=not pending,
        on_click=desk.select,
        args=(pending,),
        key=desk.key("select-pending"),
    )
    bar.button(
        "Clear selection", disabled=not chosen, on_click=desk.select, args=([],), key=desk.key("clear")
    )


def _error(reference: ReferenceReview, error: str) -> None:
    """Why generation failed in a word on the card, the whole error one click away."""
    why = reference.failure_reason or reference.generation
    st.error(f"{why} · {reference.attempts} attempt{'s' if reference.attempts != 1 else ''}")
    with st.expander("Full error", expanded=len(error) <= ERROR_CHARS):
        st.text(error)


def _card(desk: ReviewDesk, reference: ReferenceReview, thumb: Thumbnail | None) -> None:
    ref = reference.ref
    with st.container(border=True, key=f"{desk.key('card')}-{ref}"):
        status = card_status(reference)
        if thumb is not None:
            st.image(thumb.data, width="stretch")
        elif reference.version is not None:
            st.caption("image missing from storage")
        status_badge(status, f" · v{reference.version}" if reference.version else "")
        st.caption(ref)
        if reference.status == "rejected" and reference.latest and reference.latest.decisions:
            st.caption(f"“{reference.latest.decisions[-1].reason}”")
        if reference.error and reference.generation in ("failed", "cancelled"):
            _error(reference, reference.error)
        elif reference.version is None or reference.generation not in ("stored", "dropped"):
            st.caption(f"generation: {reference.generation}")
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        if reference.status == "pending":
            row.checkbox(
                "Select",
                value=ref in desk.selected,
                key=desk.selection_key(ref),
                on_change=desk.choose,
                args=(ref,),
            )
        if reference.version is not None:
            row.button(
                "Open",
                icon=":material/open_in_full:",
                key=desk.key(f"open-{ref}"),
                on_click=desk.go_to,
                args=(ref,),
                kwargs={"open_lightbox": True},
            )
        if reference.generation in ("failed", "cancelled"):
            row.button("Retry", icon=":material/refresh:", key=desk.key(f"retry-{ref}"), on_click=desk.retry)


def reference_grid(
    services: Services, desk: ReviewDesk, shown: list[ReferenceReview], cursor: str | None
) -> None:
    """The cards the filter shows, `PAGE_SIZE` at a time; the page follows the cursor."""
    if not shown:
        return
    refs = [r.ref for r in shown]
    pages = (len(shown) + PAGE_SIZE - 1) // PAGE_SIZE
    page = refs.index(cursor) // PAGE_SIZE + 1 if cursor in refs else 1
    if pages > 1:
        # one widget per cursor page: turning a page moves the cursor, and the cursor decides the page
        page_key = desk.key(f"page-{page}")

        def turn() -> None:
            desk.go_to(refs[(st.session_state[page_key] - 1) * PAGE_SIZE])

        st.pagination(pages, default=page, key=page_key, on_change=turn)
    on_page = shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    latest: list[tuple[str, str | None]] = [
        (r.latest.storage_key, r.latest.content_id) for r in on_page if r.latest is not None
    ]
    thumbs = thumbnails(services, latest)
    for start in range(0, len(on_page), COLUMNS):
        for column, reference in zip(st.columns(COLUMNS), on_page[start : start + COLUMNS], strict=False):
            with column:
                key = reference.latest.storage_key if reference.latest is not None else None
                _card(desk, reference, thumbs.get(key) if key else None)
