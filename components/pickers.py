"""A select box that keeps the user's pick and follows the app's current job or song.

Its key never changes: a key built from the current selection made Streamlit replace the widget the user
had just touched, so a first pick in a new session was lost. The pick becomes the app's current value in
`on_change` (before the page runs); a current value changed elsewhere (another page, a loaded plan) is
written into the widget's state before it is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st


def sticky_select(
    label: str,
    options: Sequence[str],
    *,
    key: str,
    current: str | None,
    choose: Callable[[str], None],
    format_func: Callable[[str], str] = str,
    help: str | None = None,
) -> str:
    """Show `options`, starting at `current`; `choose` is called with the user's pick and the default."""
    if current in options and st.session_state.get(key) != current:
        st.session_state[key] = current
    elif st.session_state.get(key) not in options:
        st.session_state.pop(key, None)

    def _picked() -> None:
        choose(st.session_state[key])

    chosen = st.selectbox(label, options, key=key, format_func=format_func, on_change=_picked, help=help)
    if chosen != current:
        choose(chosen)
    return chosen
