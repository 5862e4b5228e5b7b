"""One reviewer's place on a job's review board, kept in session state: the cursor as the server knows it (the
browser's board holds its own and follows this one when the lightbox moves it), whether the lightbox is open,
the outcomes of the decisions the board sent, and the message of the last action.

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
    ReviewBoard,
    approve,
    reject,
    review_board,
)
from studio.review.keyed_decisions import DecisionOutcome, KeyedDecision, record_in_order
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
    def cursor(self, board: ReviewBoard) -> str | None:
        """The reference under the cursor as the server knows it (the lightbox's): at first the first pending
        one, so that A approves straight away; the next one when its reference left the job's plan."""
        shown = [r.ref for r in board.references]
        current = self._get("cursor")
        if current is None:
            current = next((ref for ref in board.pending if ref in shown), shown[0] if shown else None)
            self._set("cursor", current)
        elif current not in shown:
            current = board.step(current, 1)
            self._set("cursor", current)
        return str(current) if current else None

    def _move_to(self, ref: str | None) -> None:
        """Move the cursor from the server side (the lightbox): the board in the browser follows it."""
        self._set("cursor", ref)
        self._set("turn", self.turn + 1)

    @property
    def turn(self) -> int:
        """How many times the server moved the cursor: the browser adopts the cursor when this changes."""
        return int(self._get("turn", 0))

    @property
    def board_key(self) -> str:
        return self.key("board")

    def _outcomes(self) -> dict[str, DecisionOutcome]:
        found: dict[str, DecisionOutcome] | None = self._get("outcomes")
        if found is None:
            found = {}
            self._set("outcomes", found)
        return found

    def settled(self) -> list[dict[str, Any]]:
        """The outcome of every decision in the browser's outbox that the server has settled."""
        outbox = (st.session_state.get(self.board_key) or {}).get("outbox") or []
        outcomes = self._outcomes()
        ids = [item.get("id") for item in outbox if isinstance(item, dict)]
        return [outcomes[i].model_dump() for i in ids if i in outcomes]

    @property
    def lightbox_open(self) -> bool:
        return bool(self._get("lightbox"))

    def take_once(self, name: str) -> Any:
        """A one-shot flag (focus the reason, scroll to the cursor), cleared as it is read."""
        return st.session_state.pop(self.key(name), None)

    @staticmethod
    def flash(kind: str, text: str, *, until_version: tuple[str, int] | None = None) -> None:
        """The outcome of an action; `until_version` (ref, version): true only until that version arrives."""
        st.session_state[FLASH] = (kind, text, until_version)

    @staticmethod
    def clear_flash() -> None:
        st.session_state.pop(FLASH, None)

    def show_flash(self, board: ReviewBoard) -> None:
        """The outcome of the last action; it stays until the next one (redraws do not drop it), or until it
        stops being true (a queued version has arrived)."""
        if FLASH not in st.session_state:
            return
        kind, text, until = st.session_state[FLASH]
        if until is not None:
            ref, version = until
            arrived = next((r.version for r in board.references if r.ref == ref), None)
            if arrived is not None and arrived >= version:
                self.clear_flash()
                return
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
    def on_outbox(self) -> None:
        """The board's callback: its outbox changed."""
        self.record_outbox()

    def record_outbox(self) -> bool:
        """Record the decisions of the board's outbox not recorded yet, in the order made; whether any was
        new."""
        outbox = (st.session_state.get(self.board_key) or {}).get("outbox") or []
        items = []
        for raw in outbox:
            try:
                items.append(KeyedDecision.model_validate(raw))
            except ValueError:
                continue
        new = record_in_order(self.services, self.job_id, items, self._outcomes(), actor=self.actor())
        return bool(new)

    def open_from_board(self) -> None:
        ref = (st.session_state.get(self.board_key) or {}).get("open")
        if isinstance(ref, str) and ref:
            self.clear_flash()
            self._set("cursor", ref)
            self._set("lightbox", True)

    @action
    def move(self, offset: int) -> None:
        board = self._board()
        current = self.cursor(board)
        if current is not None:
            self._move_to(board.step(current, offset))

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
            self._move_to(board.next_pending(ref))
            return
        try:
            decision = approve(self.services, self.job_id, ref, actor=self.actor())
        except StudioError as error:
            self.flash("error", str(error))
            return
        self.flash("success", f"{ref} v{decision.version} approved.")
        self._move_to(self._board().next_pending(ref))

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
        self._set(f"reason-{ref}", "")
        self._set("focus", "blur")

    def change_key(self, ref: str, version: int) -> str:
        """The regenerate form's "what to change" of one rejected version (prefilled with its reason)."""
        return self.key(f"change-{ref}-v{version}")

    @action
    def regenerate(self, ref: str, version: int) -> None:
        """Queue a new version with the change and target chosen in the lightbox's form."""
        change = str(st.session_state.get(self.change_key(ref, version)) or "")
        target: ChangeTarget = st.session_state.get(self.key(f"target-{ref}")) or "prompt"
        try:
            request = RegenerationRequest(change, target)
            regenerate_rejected(self.services, self.job_id, ref, request, actor=self.actor())
        except StudioError as error:
            self.flash("error", str(error))
            return
        self.flash(
            "success",
            f"{ref}: v{version + 1} is queued; it shows here and on its card on arrival.",
            until_version=(ref, version + 1),
        )

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
