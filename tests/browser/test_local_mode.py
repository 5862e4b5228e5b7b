"""Local mode in real headless Chromium: at 127.0.0.1 the one local user holds every role and the sidebar says
so; the same server reached under another host name (a reverse proxy on this machine, or a page that rebinds
its name to 127.0.0.1), or through a proxy that says so in any forwarding header, shows only the refusal,
without a single page of the studio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import CHROMIUM, TIMEOUT_MS, chromium, new_page, settle, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make system-deps)"),
]
OTHER_NAME = "studio.test"


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Chromium that resolves studio.test to 127.0.0.1, as DNS rebinding or a local proxy's name would."""
    with chromium(f"--host-resolver-rules=MAP {OTHER_NAME} 127.0.0.1") as launched:
        yield launched


def test_the_local_user_holds_every_role_but_only_at_a_loopback_name(
    browser: Browser, studio_url: str
) -> None:
    page = new_page(browser)
    page.goto(f"{studio_url}/review")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("local mode")).to_be_visible(timeout=TIMEOUT_MS)
    expect(sidebar.get_by_text("You hold every role (creator, reviewer, admin)")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    expect(sidebar.get_by_role("button", name="Sign out")).to_have_count(0, timeout=TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Review")).to_be_visible(timeout=TIMEOUT_MS)

    port = studio_url.rsplit(":", 1)[1]
    other = new_page(browser)
    other.set_default_timeout(TIMEOUT_MS)
    other.goto(f"http://{OTHER_NAME}:{port}/review")
    expect(other.get_by_text(f"This request reached the studio as {OTHER_NAME}:{port}")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    expect(other.get_by_role("heading", name="Reference Studio is not serving")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    settle(other)
    expect(other.get_by_role("heading", name="Review")).to_have_count(0, timeout=TIMEOUT_MS)
    expect(other.get_by_test_id("stSidebar")).to_have_count(0, timeout=TIMEOUT_MS)
    shot(other, "local-mode-other-host-refused")

    through = browser.new_context(extra_http_headers={"X-Forwarded-Proto": "https"}).new_page()
    through.set_default_timeout(TIMEOUT_MS)
    through.goto(f"{studio_url}/review")
    expect(
        through.get_by_text("This request reached the studio through a proxy (x-forwarded-proto)")
    ).to_be_visible(timeout=TIMEOUT_MS)
    expect(through.get_by_role("heading", name="Review")).to_have_count(0, timeout=TIMEOUT_MS)
