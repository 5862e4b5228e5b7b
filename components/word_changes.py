"""Words one text changed from another, in colour: prompt versions, a creator's edits of an interrogation."""

from __future__ import annotations

import html

import streamlit as st

from studio.prompts.changes import WordChange

ADDED = "background: rgba(33, 195, 84, 0.35); text-decoration: none; border-radius: 3px; padding: 0 2px;"
REMOVED = "background: rgba(255, 75, 75, 0.3); border-radius: 3px; padding: 0 2px;"
PROSE = "font-family: 'Source Code Pro', monospace; font-size: 0.85rem; line-height: 1.6;"


def changes_html(changes: list[WordChange]) -> str:
    """Words as HTML: added ones in green `<ins>`, removed ones struck through in red `<del>`."""
    parts: list[str] = []
    for word in changes:
        text = html.escape(word.text.replace(" ,", ","))
        if word.change == "added":
            text = f'<ins style="{ADDED}">{text}</ins>'
        elif word.change == "removed":
            text = f'<del style="{REMOVED}">{text}</del>'
        parts.append(("" if not parts or word.text.startswith(",") else " ") + text)
    return f'<div style="{PROSE}">{"".join(parts) or "<em>(empty)</em>"}</div>'


def show_changes(label: str, changes: list[WordChange], tokens: int | None = None, limit: int = 75) -> None:
    """One prompt's word diff under a label, with its token count (red past CLIP's limit)."""
    count = ""
    if tokens is not None:
        colour = "red" if tokens > limit else "gray"
        count = f" · :{colour}[{tokens} / {limit} CLIP tokens]"
    st.markdown(f"**{label}**{count}")
    st.html(changes_html(changes))
