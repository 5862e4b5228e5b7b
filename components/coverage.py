"""Review status at a glance: a Material icon and colour per status, and the scene x character coverage."""

from __future__ import annotations

from typing import Literal

import pandas as pd
import streamlit as st

from studio.review.gate import ReferenceReview, ReviewBoard

BadgeColour = Literal["red", "orange", "green", "gray"]
STATUS_LOOKS: dict[str, tuple[str, BadgeColour]] = {
    "approved": (":material/check_circle:", "green"),
    "rejected": (":material/cancel:", "red"),
    "pending": (":material/hourglass_top:", "orange"),
    "missing": (":material/image_not_supported:", "gray"),
    "failed": (":material/error:", "red"),
}
CELL_COLOURS = {
    "approved": "rgba(33, 195, 84, 0.25)",
    "rejected": "rgba(255, 75, 75, 0.25)",
    "pending": "rgba(255, 164, 33, 0.2)",
    "missing": "rgba(128, 132, 149, 0.2)",
}


def status_text(status: str) -> str:
    """A status with its Material icon, for Markdown labels."""
    icon = STATUS_LOOKS.get(status, ("", "gray"))[0]
    return f"{icon} {status}".strip()


def card_status(reference: ReferenceReview) -> str:
    """A card's badge: the review status, or `failed` when generation failed and there is no image."""
    return "failed" if reference.failed and reference.version is None else reference.status


def status_badge(status: str, suffix: str = "") -> None:
    icon, colour = STATUS_LOOKS.get(status, ("", "gray"))
    st.badge(f"{status}{suffix}", icon=icon or None, color=colour)


def _used_in(clips: list[int]) -> str:
    """`· in clip 0`, `· in clips 0, 2`: the plan's clip numbers, never read as a count."""
    return f" · in clip {clips[0]}" if len(clips) == 1 else f" · in clips {', '.join(map(str, clips))}"


def coverage_matrix(board: ReviewBoard) -> None:
    """Rows are scenes, columns characters; a cell is the weaker of the two references' statuses."""
    scenes = list(dict.fromkeys(c.scene_id for c in board.coverage))
    characters = list(dict.fromkeys(c.character_id for c in board.coverage))
    cells = {(c.scene_id, c.character_id): c for c in board.coverage}
    frame = pd.DataFrame(
        [
            [
                cells[(s, c)].status + (_used_in(cells[(s, c)].clips) if cells[(s, c)].clips else "")
                for c in characters
            ]
            for s in scenes
        ],
        index=pd.Index([f"scene {s}" for s in scenes]),
        columns=[f"character {c}" for c in characters],
    )
    styled = frame.style.map(lambda text: f"background-color: {CELL_COLOURS.get(text.split(' ')[0], '')}")
    st.dataframe(styled, width="stretch")
    st.caption("A cell is approved when both the scene and the character are; clips list where they meet.")
