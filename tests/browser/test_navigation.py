"""Every URL opens the same app: a deep link as a fresh server's first request, another tab, a reload.

Streamlit runs a `pages/` folder beside the entry script as its legacy navigation until some session has
run the entry point; these tests open each page's URL before anything else has touched the server.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import new_page, settle, shot

pytestmark = pytest.mark.browser

NAVIGATION = ["Home", "Characters", "Scene plan & prompts", "Generate", "Review", "Costs"]
PAGES = {
    "": "Reference Studio",
    "characters": "Characters",
    "plan": "Scene plan & prompts",
    "generate": "Generate",
    "review": "Review",
    "costs": "Costs",
}


def expect_the_app(page: Page, heading: str) -> None:
    """The app's own navigation (titles, not file names) around the page's own content."""
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_be_visible()
    for title in NAVIGATION:
        expect(nav.get_by_role("link", name=title, exact=True)).to_be_visible()
    expect(nav).not_to_contain_text("streamlit app")
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
    settle(page)
    expect(nav.get_by_role("link")).to_have_count(len(NAVIGATION))


@pytest.mark.parametrize("path", ["review", "plan"])
def test_a_deep_link_as_the_servers_first_request_opens_the_app(
    studio_url: str, browser: Browser, path: str
) -> None:
    page = new_page(browser)
    page.goto(f"{studio_url}/{path}")
    expect_the_app(page, PAGES[path])
    shot(page, f"deep-link-{path}")
    page.reload()
    expect_the_app(page, PAGES[path])


def test_every_page_opens_by_its_url_in_a_fresh_context_and_after_a_reload(
    studio_url: str, browser: Browser
) -> None:
    for path, heading in PAGES.items():
        page = new_page(browser)
        page.goto(f"{studio_url}/{path}")
        expect_the_app(page, heading)
        page.reload()
        expect_the_app(page, heading)
        page.context.close()
