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
from pathlib import Path
from typing import Any

import streamlit as st

from components.failures import show_failure
from components.identity import (
    deployment_here,
    identity_sidebar,
    no_role_page,
    not_permitted_page,
    refusal_page,
    sign_in_page,
    signed_in_actor,
)
from studio.access.roles import PAGE_PERMISSIONS, Actor
from studio.errors import StudioError, Unavailable

_IN_APP: ContextVar[bool] = ContextVar("studio_in_app", default=False)


def app_pages(who: Actor | None = None) -> dict[str, list[st.Page]]:
    """Every page; those `who` may not open stay reachable by link but are not listed in the sidebar."""

    def page(path: str, title: str, icon: str, **options: Any) -> st.Page:
        needed = PAGE_PERMISSIONS.get(Path(path).stem)
        listed = who is not None and (needed is None or who.may(needed))
        return st.Page(path, title=title, icon=icon, visibility="visible" if listed else "hidden", **options)

    return {
        "Studio": [
            page("pages/home.py", "Home", ":material/home:", default=True),
        ],
        "Create": [
            page("pages/characters.py", "Characters", ":material/person:"),
            page("pages/plan.py", "Scene plan & prompts", ":material/edit_note:"),
            page("pages/generate.py", "Generate", ":material/movie:"),
        ],
        "Check": [
            page("pages/review.py", "Review", ":material/fact_check:"),
            page("pages/costs.py", "Costs", ":material/payments:"),
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
    """The entry point's whole work: page config, who acts, the navigation, and the chosen page inside it.

    Every page is registered whoever asks, so a deep link keeps its address: signed out it shows the sign-in
    page, and a page the actor's roles do not open says so.
    """
    st.set_page_config(page_title="Reference Studio", page_icon=":material/movie:", layout="wide")
    try:
        where = deployment_here(st.context.headers)
        who = signed_in_actor(where)
    except StudioError as error:
        st.navigation(app_pages(), position="hidden")
        refusal_page(str(error))
        return
    page = st.navigation(app_pages(who), position="sidebar" if who is not None else "hidden")
    if who is None:
        sign_in_page(where)
        return
    identity_sidebar(where, who)
    needed = PAGE_PERMISSIONS.get(page.url_path)
    if not who.roles:
        no_role_page(who)
    elif needed is not None and not who.may(needed):
        not_permitted_page(page.title, needed, who)
    else:
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
