"""The review board in real headless Chromium, from a fresh tab on a deep link to /review: a reviewer approves
every reference with the keyboard alone, and a rejected reference's new version shows up without a reload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from studio.references import jobs
from studio.review.gate import review_board
from studio.samples import load_sample
from studio.services import Services
from studio.work.runner import drain
from tests.browser.conftest import CHROMIUM, chromium, new_page, served, settle, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make system-deps)"),
]


@pytest.fixture
def job_id(services: Services) -> str:
    """The sample music video's six references, generated on the local backends before the app starts."""
    job = jobs.submit(services, load_sample("music-video"))
    asyncio.run(drain(services))
    return job


@pytest.fixture
def review_url(job_id: str, data_dir: Path) -> Iterator[str]:
    with served(data_dir) as url:
        yield f"{url}/review"


@pytest.fixture
def browser(review_url: str) -> Iterator[Browser]:
    """Chromium, started once the app is up (Playwright's loop would stop the fixtures' `asyncio.run`)."""
    with chromium() as launched:
        yield launched


def fresh_tab(browser: Browser, url: str) -> Page:
    page = new_page(browser)
    page.goto(url)
    expect(page.get_by_text("Export refused")).to_be_visible()
    settle(page)
    # Streamlit loads each element kind's code on first use: keys work once the bar's buttons are drawn
    expect(page.locator('[class*="st-key-review-board-keys"] button')).to_have_count(5)
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    return page


def test_a_reviewer_approves_every_reference_with_the_keyboard(
    browser: Browser, review_url: str, services: Services, job_id: str
) -> None:
    refs = [r.ref for r in review_board(services, job_id).references]
    page = fresh_tab(browser, review_url)
    download = page.get_by_role("button", name="Download the manifest (JSON)")
    expect(download).to_have_count(0)
    shot(page, "review-board")
    for ref in refs:
        expect(page.get_by_text(f"{ref} v1 · pending", exact=False)).to_be_visible()
        page.keyboard.press("a")
        expect(page.get_by_text(f"{ref} v1 approved.")).to_be_visible()
        settle(page)
    expect(download).to_be_disabled()  # the offline renderer's previews are exported only on purpose
    expect(page.get_by_text("offline previews, not real renders", exact=False)).to_be_visible()
    page.get_by_text("Export the previews anyway").click()
    expect(download).to_be_enabled()
    assert review_board(services, job_id).unapproved == {}
    with page.expect_download() as downloaded:
        download.click()
    manifest = json.loads(Path(downloaded.value.path()).read_text())
    assert [r["ref"] for r in manifest["references"]] == refs


def test_reject_with_the_keyboard_then_the_new_version_arrives_without_a_reload(
    browser: Browser, review_url: str, services: Services, job_id: str
) -> None:
    refs = [r.ref for r in review_board(services, job_id).references]
    page = fresh_tab(browser, review_url)
    page.keyboard.press("ArrowRight")
    expect(page.get_by_text(f"{refs[1]} v1 · pending", exact=False)).to_be_visible()
    page.keyboard.press("x")
    dialog = page.get_by_role("dialog")
    reason = dialog.get_by_label("Reason (required to reject)")
    expect(reason).to_be_focused()
    page.keyboard.type("too dark, wrong coat colour")
    page.keyboard.press("Enter")
    expect(dialog.get_by_text(f"{refs[1]} v1 rejected: too dark, wrong coat colour")).to_be_visible()
    assert review_board(services, job_id).reference(refs[1]).status == "rejected"

    dialog.get_by_label("What to change").fill("underexposed, murky shadows")
    dialog.get_by_label("What to change").press("Enter")
    dialog.get_by_text("negative prompt", exact=True).click()
    expect(dialog.locator("ins", has_text="underexposed, murky shadows")).to_be_visible()
    expect(dialog.get_by_text("CLIP tokens").nth(1)).to_be_visible()
    settle(page)
    shot(page, "review-regenerate-preview", publish=True)
    dialog.get_by_role("button", name="Regenerate").click()
    expect(dialog.get_by_text(f"{refs[1]}: v2 is queued")).to_be_visible()
    expect(dialog.get_by_text("pending · v2")).to_be_visible(timeout=15_000)  # it arrives in the lightbox
    settle(page)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    card = page.locator(f'[class*="st-key-review-card-{job_id}-{refs[1]}"]')
    # No reload: the lightbox and the board poll.
    expect(card.get_by_text("pending · v2")).to_be_visible(timeout=15_000)
    latest = review_board(services, job_id).reference(refs[1]).versions[-1]
    assert latest.negative_prompt.endswith(", underexposed, murky shadows")
