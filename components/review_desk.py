"""One reviewer's place on a job's review board, kept in session state: the cursor (the reference the keyboard
acts on), the filter, the selection, whether the lightbox is open, and the message of the last action.

The methods are widget callbacks: they run before the next script run, call studio, and leave a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

import streamlit as st

from components.identity import actor
from studio.access.roles import Actor
from studio.errors import StudioError
from studio.references.gallery import retry_failed
from studio.review.gate import (
    BoardFilter,
    ReviewBoard,
    approve,
    approve_many,
    reject,
    review_board,
)
from studio.review.regeneration import ChangeTarget, RegenerationRequest, regenerate_rejected
from studio.services import Services

FLASH = "review-flash"
P = ParamSpec("P")
R = TypeVar("R")


def action(method: Callable[Concatenate[ReviewDesk, P], R]) -> Callable[Concatenate[ReviewDesk, P], R]:
    """A reviewer's action: the message of the previous one goes first."""

    @wraps(method)
    def run(desk: ReviewDesk, /, *args: P.args, **kwargs: P.kwargs) -> R:
        desk.clear_flash()
        return method(desk, *args, **kwargs)

    return run


@dataclass(frozen=True)
class ReviewDesk:
    services: Services
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
        """The reference under the cursor: kept while the filter shows it, else the next one shown; at first
        the first pending one, so that A approves straight away."""
        shown = [r.ref for r in board.matching(self.filter)]
        current = self._get("cursor")
        if current is None:
            current = next((ref for ref in board.pending if ref in shown), shown[0] if shown else None)
            self._set("cursor", current)
        elif current not in shown:
            current = board.step(current, 1, self.filter)
            self._set("cursor", current)
        return str(current) if current else None

    @property
    def selected(self) -> set[str]:
        chosen: set[str] = self._get("selected") or set()
        return chosen

    def selection_key(self, ref: str) -> str:
        """A card's checkbox key. It changes when a bulk action replaces the whole selection, so a checkbox
        value sent by a click racing the redraw (still the old one) cannot undo the bulk action."""
        return self.key(f"select-{self._get('round', 0)}-{ref}")

    @property
    def lightbox_open(self) -> bool:
        return bool(self._get("lightbox"))

    def take_once(self, name: str) -> Any:
        """A one-shot flag (focus the reason, scroll to the cursor), cleared as it is read."""
        return st.session_state.pop(self.key(name), None)

    @staticmethod
    def flash(kind: str, text: str) -> None:
        st.session_state[FLASH] = (kind, text)

    @staticmethod
    def clear_flash() -> None:
        st.session_state.pop(FLASH, None)

    def show_flash(self) -> None:
        """The outcome of the last action; it stays until the next one (redraws do not drop it)."""
        if FLASH in st.session_state:
            kind, text = st.session_state[FLASH]
            (st.success if kind == "success" else st.error)(text)

    @staticmethod
    def actor() -> Actor:
        """Who acts: the signed-in identity (the audit trail records it), or the local user."""
        return actor()

    @property
    def may_review(self) -> bool:
        return self.actor().may("review")

    def _board(self) -> ReviewBoard:
        return review_board(self.services, self.job_id)

    # callbacks ------------------------------------------------------------------------------------
    @action
    def move(self, offset: int) -> None:
        board = self._board()
        current = self.cursor(board)
        if current is not None:
            self._set("cursor", board.step(current, offset, self.filter))
            self._set("scroll", True)

    @action
    def go_to(self, ref: str, *, open_lightbox: bool = False) -> None:
        self._set("cursor", ref)
        if open_lightbox:
            self._set("lightbox", True)

    @action
    def open_lightbox(self, *, to_reject: bool = False) -> None:
        self._set("lightbox", True)
        if to_reject:
            self._set("focus", "reason")

    @action
    def close_lightbox(self) -> None:
        self._set("lightbox", False)

    @action
    def approve_cursor(self) -> None:
        board = self._board()
        ref = self.cursor(board)
        if ref is None:
            return
        if board.reference(ref).status == "approved":
            self.flash("success", f"{ref} was already approved.")
            self._set("cursor", board.next_pending(ref))
            self._set("scroll", True)
            return
        try:
            decision = approve(self.services, self.job_id, ref, actor=self.actor())
        except StudioError as error:
            self.flash("error", str(error))
            return
        self.flash("success", f"{ref} v{decision.version} approved.")
        self._set("cursor", self._board().next_pending(ref))
        self._set("scroll", True)

    @action
    def reject(self, ref: str) -> None:
        """Reject with the reason typed in the lightbox's form; keys work again on the lightbox after."""
        reason = st.session_state.get(self.key(f"reason-{ref}"), "")
        try:
            decision = reject(self.services, self.job_id, ref, reason, actor=self.actor())
        except StudioError as error:
            self.flash("error", str(error))
            self._set("focus", "reason")
            return
        self.flash("success", f"{ref} v{decision.version} rejected: {decision.reason}")
        self._set("focus", "blur")

    @action
    def regenerate(self, ref: str, version: int) -> None:
        """Queue a new version with the change and target chosen in the lightbox's form."""
        change = str(st.session_state.get(self.key(f"change-{ref}")) or "")
        target: ChangeTarget = st.session_state.get(self.key(f"target-{ref}")) or "prompt"
        try:
            request = RegenerationRequest(change, target)
            regenerate_rejected(self.services, self.job_id, ref, request, actor=self.actor())
        except StudioError as error:
            self.flash("error", str(error))
            return
        self.flash("success", f"{ref}: v{version + 1} is queued; it shows here and on its card on arrival.")

    @action
    def choose(self, ref: str) -> None:
        """A card's checkbox changed: the selection follows its value."""
        chosen = set(self.selected)
        if st.session_state.get(self.selection_key(ref)):
            chosen.add(ref)
        else:
            chosen.discard(ref)
        self._set("selected", chosen)

    @action
    def select(self, refs: list[str]) -> None:
        self._set("selected", set(refs))
        self._set("round", self._get("round", 0) + 1)

    @action
    def approve_selected(self) -> None:
        refs = [ref for ref in self._board().pending if ref in self.selected]
        try:
            decisions = approve_many(self.services, self.job_id, refs, actor=self.actor())
        except StudioError as error:
            self.flash("error", str(error))
            return
        self.select([])
        self.flash("success", f"{len(decisions)} references approved: {', '.join(refs)}.")

    @action
    def retry(self) -> None:
        try:
            retry_failed(self.services, self.job_id, actor=self.actor())
        except StudioError as error:
            self.flash("error", str(error))
        else:
            self.flash(
                "success", "The failed references are queued again; their cards update as they finish."
            )
