"""The app's navigation, and the guard that keeps a page from running without it.

Streamlit treats a `pages/` folder beside the entry script as its legacy automatic navigation until some
session of the server process has called `st.navigation`: a fresh server's first request for `/review`
then runs `pages/review.py` alone, under a sidebar of file names. `require_app` notices that the entry
point did not run and runs the app in its place, in the same script run (so the widget event that started
the run is not lost); its `st.navigation` call turns the legacy mode off for every later session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import streamlit as st

from components.failures import show_failure
from studio.errors import Unavailable

_IN_APP: ContextVar[bool] = ContextVar("studio_in_app", default=False)


def app_pages() -> dict[str, list[st.Page]]:
    return {
        "Studio": [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        ],
        "Create": [
            st.Page("pages/characters.py", title="Characters", icon=":material/person:"),
            st.Page("pages/plan.py", title="Scene plan & prompts", icon=":material/edit_note:"),
            st.Page("pages/generate.py", title="Generate", icon=":material/movie:"),
        ],
        "Check": [
            st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
            st.Page("pages/costs.py", title="Costs", icon=":material/payments:"),
        ],
    }


@contextmanager
def _inside_app() -> Iterator[None]:
    token = _IN_APP.set(True)
    try:
        yield
    finally:
        _IN_APP.reset(token)


def run_app() -> None:
    """The entry point's whole work: page config, the navigation, and the chosen page inside it."""
    st.set_page_config(page_title="Reference Studio", page_icon=":material/movie:", layout="wide")
    page = st.navigation(app_pages())
    with _inside_app():
        try:
            page.run()
        except Unavailable as error:  # the database or storage failed while the page ran
            show_failure(error)


def require_app() -> None:
    """Run the app around this page when Streamlit ran the page on its own (legacy `pages/` mode)."""
    if _IN_APP.get():
        return
    run_app()
    st.stop()
