"""The review board: a custom component (HTML, CSS and JavaScript inline, no build step) that holds the cards,
the cursor, the filter and the selection in the browser, so every key acts at once; decisions go to the
service layer in the order made and show as saving until recorded. Also the lightbox's action bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from components.coverage import card_status
from components.review_desk import ReviewDesk
from studio.references.thumbnail_urls import thumbnail_url
from studio.review.gate import ReferenceReview, ReviewBoard, board_fingerprint, review_board

HERE = Path(__file__).parent
REFRESH_SECONDS = 1.0
DECIDE_KEYS = "Keys: ← previous · → next · A approve · X reject (type the reason, Enter)"
LIGHTBOX_KEYS = f"{DECIDE_KEYS} · Esc back to the board"

board_component = st.components.v2.component(
    "reference_studio.review_board",
    css=(HERE / "review_board.css").read_text("utf-8"),
    js=(HERE / "review_board.js").read_text("utf-8"),
)


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


def _note(reference: ReferenceReview) -> str | None:
    """Why a card has no image, or why its generation failed, in a few words."""
    if reference.error and reference.generation in ("failed", "cancelled"):
        why = reference.failure_reason or reference.generation
        return f"{why} · {reference.attempts} attempt{'s' if reference.attempts != 1 else ''}"
    if reference.version is None or reference.generation not in ("stored", "dropped"):
        return f"generation: {reference.generation}"
    return None


def board_cards(desk: ReviewDesk, board: ReviewBoard) -> list[dict[str, Any]]:
    """What the browser draws of each reference: a cached thumbnail URL, what it should show, its status."""
    cards = []
    for reference in board.references:
        latest = reference.latest
        rejection = latest.decisions[-1].reason if latest and latest.decisions else None
        thumb = thumbnail_url(desk.services, latest.storage_key, latest.content_id) if latest else None
        cards.append(
            {
                "ref": reference.ref,
                "status": card_status(reference),
                "version": reference.version,
                "thumb": thumb,
                "text": reference.description,
                "reason": rejection,
                "note": _note(reference),
            }
        )
    return cards


def reference_board(desk: ReviewDesk, board: ReviewBoard) -> None:
    """The board; the decisions it sent are recorded before it is drawn (its callback records them even
    before the run; what a rerun interrupted is recorded here)."""
    if desk.record_outbox():
        board = review_board(desk.services, desk.job_id)
    cursor = desk.cursor(board)
    board_component(
        key=desk.board_key,
        data={
            "job": desk.job_id,
            "may_review": desk.may_review,
            "cards": board_cards(desk, board),
            "cursor": {"ref": cursor, "turn": desk.turn} if cursor else None,
            "settled": desk.settled(),
        },
        default={"outbox": []},
        on_outbox_change=desk.on_outbox,
        on_open_change=desk.open_from_board,
    )


def action_bar(desk: ReviewDesk, board: ReviewBoard, cursor: str) -> None:
    """The lightbox's previous, next, approve and reject, each with its keyboard shortcut."""
    reference = board.reference(cursor)
    shown = [r.ref for r in board.references]
    undecidable = reference.version is None or not desk.may_review
    actions: list[tuple[str, str, str, Callable[..., None], dict[str, Any], bool]] = [
        ("Previous", "arrow_back", "Left", desk.move, {"offset": -1}, False),
        ("Next", "arrow_forward", "Right", desk.move, {"offset": 1}, False),
        ("Approve", "check", "A", desk.approve_cursor, {}, undecidable),
        ("Reject…", "close", "X", desk.open_lightbox, {"to_reject": True}, undecidable),
    ]
    bar = st.container(horizontal=True, vertical_alignment="center", key=desk.key("lightbox-keys"))
    for label, icon, shortcut, callback, kwargs, disabled in actions:
        bar.button(
            label,
            icon=f":material/{icon}:",
            type="primary" if label == "Approve" else "secondary",
            shortcut=shortcut,
            on_click=callback,
            kwargs=kwargs,
            disabled=disabled,
            key=desk.key(f"lightbox-{label.strip('…').lower()}"),
        )
    position = f"{shown.index(cursor) + 1} of {len(shown)}"
    st.caption(f"{position} · {LIGHTBOX_KEYS}")
