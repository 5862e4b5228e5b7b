"""How a page says that configuration, storage or the database cannot be used: what, and what to do.

Shown in place of the page (setup) or below what the page drew before it failed (the navigation); with
STUDIO_DEBUG=1 the traceback follows.
"""

from __future__ import annotations

import streamlit as st

from studio.errors import StudioError, Unavailable, debugging


def show_failure(error: StudioError) -> None:
    if isinstance(error, Unavailable):
        st.error(f"**{error.what}**\n\nWhat to do: {error.fix}", icon=":material/error:")
    else:
        st.error(f"Configuration: {error}", icon=":material/error:")
    if debugging():
        st.exception(error)
