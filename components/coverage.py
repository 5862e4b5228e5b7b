"""Review status at a glance: icons per status and the scene x character coverage matrix."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from studio.review import ReferenceReview, ReviewBoard

STATUS_ICONS = {"approved": "✅", "rejected": "❌", "pending": "⏳", "missing": "·"}


def status_text(status: str) -> str:
    return f"{STATUS_ICONS.get(status, '')} {status}".strip()


def queue_label(reference: ReferenceReview) -> str:
    version = f" v{reference.version}" if reference.version else ""
    return f"{STATUS_ICONS.get(reference.status, '')} {reference.ref}{version}"


def coverage_matrix(board: ReviewBoard) -> None:
    """Rows are scenes, columns characters; a cell is the weaker of the two references' statuses."""
    scenes = list(dict.fromkeys(c.scene_id for c in board.coverage))
    characters = list(dict.fromkeys(c.character_id for c in board.coverage))
    cells = {(c.scene_id, c.character_id): c for c in board.coverage}
    frame = pd.DataFrame(
        [
            [
                status_text(cells[(s, c)].status)
                + (f" · clips {', '.join(map(str, cells[(s, c)].clips))}" if cells[(s, c)].clips else "")
                for c in characters
            ]
            for s in scenes
        ],
        index=pd.Index([f"scene {s}" for s in scenes]),
        columns=[f"character {c}" for c in characters],
    )
    st.dataframe(frame, width="stretch")
    st.caption("A cell is approved when both the scene and the character are; clips list where they meet.")
