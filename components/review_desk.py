"""One reviewer's place on a job's review board, kept in session state: the cursor (the reference the keyboard
acts on), the filter, the selection, whether the lightbox is open, and the message of the last action.

The methods are widget callbacks: they run before the next script run, call studio, and leave a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from studio.errors import StudioError
from studio.gallery import retry_failed
from studio.review import BoardFilter, ReviewBoard, approve, approve_many, default_reviewer, review_board
from studio.services import Services

REVIEWER_KEY = "reviewer-name"


@dataclass(frozen=True)
class ReviewDesk:
    studio: Services
    job_id: str

    def key(self, name: str) -> str:
        return f"review-{name}-{self.job_id}"

    def _get(self, name: str, default: Any = None) -> Any:
        return st.session_state.get(self.key(name), default)

    def _set(self, name: str, value: Any) -> None:
        st.session_state[self.key(name)] = value

    # state ----------------------------------------------------------------------------------------
    @property
    def filter(self) -> BoardFilter:
        chosen: BoardFilter = self._get("filter") or "all"
        return chosen

    def cursor(self, board: ReviewBoard) -> str | None:
        """The reference under the cursor: kept when the filter shows it, else the first one shown."""
        shown = [r.ref for r in board.matching(self.filter)]
        current = self._get("cursor")
        if current not in shown:
            current = board.step(current, 1, self.filter) if current else (shown[0] if shown else None)
            self._set("cursor", current)
        return str(current) if current else None

    @property
    def selected(self) -> set[str]:
        chosen: set[str] = self._get("selected") or set()
        return chosen

    @property
    def lightbox_open(self) -> bool:
        return bool(self._get("lightbox"))

    def take_once(self, name: str) -> Any:
        """A one-shot flag (focus the reason, scroll to the cursor), cleared as it is read."""
        return st.session_state.pop(self.key(name), None)

    def flash(self, kind: str, text: str) -> None:
        st.session_state["review-flash"] = (kind, text)

    def show_flash(self) -> None:
        if "review-flash" in st.session_state:
            kind, text = st.session_state.pop("review-flash")
            (st.success if kind == "success" else st.error)(text)

    @staticmethod
    def reviewer() -> str:
        return str(st.session_state.get(REVIEWER_KEY) or default_reviewer())

    def _board(self) -> ReviewBoard:
        return review_board(self.studio, self.job_id)

    # callbacks ------------------------------------------------------------------------------------
    def move(self, offset: int) -> None:
        board = self._board()
        current = self.cursor(board)
        if current is not None:
            self._set("cursor", board.step(current, offset, self.filter))
            self._set("scroll", True)

    def go_to(self, ref: str, *, open_lightbox: bool = False) -> None:
        self._set("cursor", ref)
        if open_lightbox:
            self._set("lightbox", True)

    def open_lightbox(self, *, to_reject: bool = False) -> None:
        self._set("lightbox", True)
        if to_reject:
            self._set("focus", "reason")

    def close_lightbox(self) -> None:
        self._set("lightbox", False)

    def approve_cursor(self) -> None:
        board = self._board()
        ref = self.cursor(board)
        if ref is None:
            return
        try:
            decision = approve(self.studio, self.job_id, ref, self.reviewer())
        except StudioError as error:
            self.flash("error", str(error))
            return
        self.flash("success", f"{ref} v{decision.version} approved.")
        self._set("cursor", self._board().next_pending(ref))
        self._set("scroll", True)

    def toggle(self, ref: str) -> None:
        chosen = set(self.selected)
        chosen.symmetric_difference_update({ref})
        self._set("selected", chosen)

    def select(self, refs: list[str]) -> None:
        self._set("selected", set(refs))

    def approve_selected(self) -> None:
        refs = [ref for ref in self._board().pending if ref in self.selected]
        try:
            decisions = approve_many(self.studio, self.job_id, refs, self.reviewer())
        except StudioError as error:
            self.flash("error", str(error))
            return
        self._set("selected", set())
        self.flash("success", f"{len(decisions)} references approved: {', '.join(refs)}.")

    def retry(self) -> None:
        try:
            retry_failed(self.studio, self.job_id)
        except StudioError as error:
            self.flash("error", str(error))
        else:
            self.flash(
                "success", "The failed references are queued again; their cards update as they finish."
            )
