"""Team mode in real headless Chromium through the real sign-in redirect: a local OpenID Connect provider
(tests/servers/oidc.py), the app configured for it in its own secrets.toml, each user starting where users
start (a fresh browser, a deep link to /review). A creator cannot approve; a reviewer can, and the audit trail
shows their e-mail; signing out returns to the sign-in page."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from benchmarks.app_start import free_port
from studio.references import jobs
from studio.review.gate import review_board
from studio.samples import load_sample
from studio.services import Services
from studio.work.runner import drain
from tests.browser.conftest import CHROMIUM, TIMEOUT_MS, chromium, new_page, served, settle, shot
from tests.servers.oidc import ADMIN, CREATOR, REVIEWER, OIDCProvider, TestUser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make system-deps)"),
]


@pytest.fixture
def job_id(services: Services) -> str:
    """The minimal sample's two references, generated on the local backends before the app starts."""
    job = jobs.submit(services, load_sample("minimal"))
    asyncio.run(drain(services))
    return job


def team_secrets(provider: OIDCProvider, redirect_uri: str) -> str:
    """The app's secrets.toml: the provider as Streamlit documents it, creators and reviewers by the ID
    token's `roles` claim, the admin by e-mail."""
    return "\n".join(
        [
            "[auth]",
            f'redirect_uri = "{redirect_uri}"',
            f'cookie_secret = "{os.urandom(24).hex()}"',
            f'client_id = "{provider.client_id}"',
            f'client_secret = "{provider.client_secret}"',
            f'server_metadata_url = "{provider.metadata_url}"',
            "",
            "[studio.roles]",
            'claim = "roles"',
            f'admin = ["{ADMIN.email}"]',
        ]
    )


@pytest.fixture
def team_url(job_id: str, data_dir: Path, tmp_path: Path, oidc_provider: OIDCProvider) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    oidc_provider.redirect_uris.append(f"{url}/oauth2callback")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(team_secrets(oidc_provider, f"{url}/oauth2callback"))
    with served(data_dir, "--secrets.files", str(secrets), port=port) as served_url:
        yield served_url


@pytest.fixture
def browser(team_url: str) -> Iterator[Browser]:
    """Chromium, started once the app is up (Playwright's loop would stop the fixtures' `asyncio.run`)."""
    with chromium() as launched:
        yield launched


def sign_in_from_a_deep_link(browser: Browser, url: str, user: TestUser) -> Page:
    """A fresh browser opens /review, is asked to sign in, picks `user` at the provider, lands signed in."""
    page = new_page(browser)
    page.goto(f"{url}/review")
    sign_in = page.get_by_role("button", name="Sign in")
    expect(sign_in).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Before exporting")).to_have_count(0, timeout=TIMEOUT_MS)
    sign_in.click()
    page.get_by_role("button", name=f"Continue as {user.email}").click()
    expect(page.get_by_text(f"{user.email} · {user.roles[0] if user.roles else 'admin'}")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    return page


def open_review(page: Page, url: str) -> None:
    page.goto(f"{url}/review")
    expect(page.get_by_text("Before exporting")).to_be_visible(timeout=TIMEOUT_MS)
    settle(page)
    expect(page.locator('[data-ref][aria-current="true"] img')).to_be_visible(timeout=TIMEOUT_MS)


def sign_out(page: Page, provider: OIDCProvider) -> None:
    signed_out = len(provider.sign_outs)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)
    assert len(provider.sign_outs) == signed_out + 1, "the provider's end-session endpoint was visited"
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT_MS)


def test_a_creator_cannot_approve_a_reviewer_can_and_the_trail_shows_their_email(
    browser: Browser, team_url: str, oidc_provider: OIDCProvider, services: Services, job_id: str
) -> None:
    first = review_board(services, job_id).references[0].ref

    creator = sign_in_from_a_deep_link(browser, team_url, CREATOR)
    open_review(creator, team_url)
    expect(
        creator.get_by_text(f"Only reviewers approve or reject; you are {CREATOR.email} (creator)")
    ).to_be_visible(timeout=TIMEOUT_MS)
    creator.keyboard.press("a")
    refused = creator.get_by_text("Only reviewers approve or reject.", exact=True)
    expect(refused).to_be_visible(timeout=TIMEOUT_MS)
    expect(creator.get_by_role("button", name="Approve selected (0)")).to_be_disabled(timeout=TIMEOUT_MS)
    settle(creator)
    shot(creator, "sign-in-creator-review")
    creator.keyboard.press("v")
    lightbox = creator.get_by_role("dialog")
    expect(lightbox.get_by_role("button", name="Reject", exact=True)).to_be_disabled(timeout=TIMEOUT_MS)
    creator.keyboard.press("Escape")
    expect(lightbox).to_have_count(0, timeout=TIMEOUT_MS)
    assert {r.status for r in review_board(services, job_id).references} == {"pending"}
    sign_out(creator, oidc_provider)
    shot(creator, "sign-in-signed-out", publish=True)

    reviewer = sign_in_from_a_deep_link(browser, team_url, REVIEWER)
    open_review(reviewer, team_url)
    expect(reviewer.get_by_text(f"Deciding as {REVIEWER.email}")).to_be_visible(timeout=TIMEOUT_MS)
    reviewer.keyboard.press("a")
    recorded = reviewer.locator(f'[data-ref="{first}"][data-status="approved"]:not([data-saving])')
    expect(recorded).to_be_visible(timeout=TIMEOUT_MS)
    decisions = review_board(services, job_id).reference(first).versions[-1].decisions
    assert [(d.decision, d.reviewer) for d in decisions] == [("approved", REVIEWER.email)]
    settle(reviewer)
    reviewer.keyboard.press("ArrowLeft")
    settle(reviewer)
    reviewer.keyboard.press("v")
    dialog = reviewer.get_by_role("dialog")
    dialog.get_by_role("tab", name="Audit trail").click()
    trail = dialog.get_by_role("tabpanel", name="Audit trail")
    trail.locator('[data-testid="stDataFrame"]').hover()
    reviewer.evaluate("delete window.showSaveFilePicker")  # a plain download, as in a browser without one
    download = trail.get_by_role("button", name="Download as CSV")
    expect(download).to_be_visible(timeout=TIMEOUT_MS)
    with reviewer.expect_download() as downloaded:
        # The grid's canvas may lie over its own hover toolbar for a moment: the click goes to the button.
        download.dispatch_event("click")
    rows = Path(downloaded.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].split(",")[:4] == ["version", "decision", "reason", "reviewer"]
    assert rows[1].split(",")[:4] == ["v1", "approved", "", REVIEWER.email]
    shot(reviewer, "sign-in-reviewer-audit-trail", publish=True)
    reviewer.keyboard.press("Escape")
    expect(dialog).to_have_count(0, timeout=TIMEOUT_MS)
    sign_out(reviewer, oidc_provider)
    assert oidc_provider.sign_ins == [CREATOR.email, REVIEWER.email]
    assert not oidc_provider.refusals
