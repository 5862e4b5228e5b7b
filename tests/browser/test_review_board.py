"""The review board in real headless Chromium at 1440×900, from fresh tabs on a deep link to /review.

On a 200-reference job: the first screen of thumbnails from a fresh tab, ten → presses 50 ms apart, the
cursor's card in view wherever it goes, ten A presses recorded in order and nothing lost on a reload. On the
sample job: a rejection typed on the board, then a regeneration from the lightbox. Timings are printed
(`pytest -s`) beside the issue's; the assertions about time are generous, the ones about behaviour exact.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from studio.references import jobs
from studio.review.gate import review_board
from studio.samples import load_sample
from studio.services import Services
from studio.work.runner import drain
from tests.browser.conftest import CHROMIUM, TIMEOUT_MS, chromium, served, settle, shot
from tests.fakes import ScriptedGenerator

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make system-deps)"),
]
SCREEN = {"width": 1440, "height": 900}
CURSOR = '[data-ref][aria-current="true"]'
THUMBNAILS_IN_VIEW = """() => [...document.querySelectorAll('*')]
    .flatMap(e => e.shadowRoot ? [...e.shadowRoot.querySelectorAll('[data-ref] img')] : [])
    .filter(i => { const r = i.getBoundingClientRect();
                   return r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth; })
    .filter(i => i.complete && i.naturalWidth > 0).length"""
IN_VIEW = """card => { const r = card.getBoundingClientRect();
    const grid = card.parentElement.getBoundingClientRect();
    return r.top >= Math.max(0, grid.top) - 1 && r.bottom <= Math.min(innerHeight, grid.bottom) + 1; }"""


@pytest.fixture
def big_job(services: Services) -> str:
    """200 references (192 scenes, 8 characters), stored by a scripted generator before the app starts."""
    scripted = dataclasses.replace(services, generator=ScriptedGenerator())
    plan = load_sample("road-trip-32")
    count = 200 - len(plan.characters)
    scenes = [plan.scenes[i % len(plan.scenes)].model_copy(update={"id": f"s{i:03d}"}) for i in range(count)]
    job_id = jobs.submit(scripted, plan.model_copy(update={"scenes": scenes}))
    asyncio.run(drain(scripted))
    return job_id


@pytest.fixture
def sample_job(services: Services) -> str:
    """The sample music video's six references, generated on the local backends before the app starts."""
    job = jobs.submit(services, load_sample("music-video"))
    asyncio.run(drain(services))
    return job


@pytest.fixture
def review_url(data_dir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    request.getfixturevalue(request.param)  # the job, stored before the server starts
    with served(data_dir) as url:
        yield f"{url}/review"


@pytest.fixture
def browser(review_url: str) -> Iterator[Browser]:
    """Chromium, started once the app is up (Playwright's loop would stop the fixtures' `asyncio.run`)."""
    with chromium() as launched:
        yield launched


def thumbnails_shown(page: Page, url: str) -> float:
    """Seconds from opening `url` in this tab until 12 or more thumbnails are loaded in view."""
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"() => ({THUMBNAILS_IN_VIEW})() >= 12", polling=10, timeout=TIMEOUT_MS)
    return time.perf_counter() - started


def cursor_ref(page: Page) -> str | None:
    return page.locator(CURSOR).get_attribute("data-ref")


@pytest.mark.parametrize("review_url", ["big_job"], indirect=True)
def test_two_hundred_references_at_the_speed_of_a_keyboard(
    browser: Browser, review_url: str, services: Services, big_job: str
) -> None:
    refs = [r.ref for r in review_board(services, big_job).references]
    context = browser.new_context(viewport=SCREEN)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    first = context.new_page()
    cold = thumbnails_shown(first, review_url)  # the server's first run, and the thumbnails made
    first.close()
    fresh: list[float] = []
    for _ in range(3):
        page = context.new_page()
        fresh.append(thumbnails_shown(page, review_url))
        page.close()
    page = context.new_page()
    page.goto(review_url)
    expect(page.locator(CURSOR)).to_have_attribute("data-ref", refs[0])
    in_view = page.evaluate(f"({THUMBNAILS_IN_VIEW})()")
    shot(page, "review-board", publish=True)

    for _ in range(10):  # the reviewer's rhythm, not a wait for the page
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(50)
    pressed = time.perf_counter()
    expect(page.locator(CURSOR)).to_have_attribute("data-ref", refs[10])
    settled = time.perf_counter() - pressed
    expect(page.locator(f'[data-ref="{refs[10]}"]')).to_have_attribute("aria-current", "true")
    for key, expected in (("End", refs[-1]), ("Home", refs[0])):
        page.keyboard.press(key)
        expect(page.locator(CURSOR)).to_have_attribute("data-ref", expected)
        assert page.locator(CURSOR).evaluate(IN_VIEW), f"after {key} the cursor's card is in view"
    for _ in range(12):
        page.keyboard.press("ArrowDown")
    assert page.locator(CURSOR).evaluate(IN_VIEW), "twelve rows down the view follows the cursor"
    page.keyboard.press("Home")

    started = time.perf_counter()
    for _ in range(10):
        page.keyboard.press("a")
        page.wait_for_timeout(50)
    approved = page.locator('[data-ref][data-status="approved"]:not([data-saving])')
    expect(approved).to_have_count(10, timeout=TIMEOUT_MS)
    recorded = time.perf_counter() - started
    decisions = sorted(
        (d for r in review_board(services, big_job).references for v in r.versions for d in v.decisions),
        key=lambda d: d.created_at,
    )
    assert [(d.ref, d.decision) for d in decisions] == [(ref, "approved") for ref in refs[:10]]
    expect(page.locator(CURSOR)).to_have_attribute("data-ref", refs[10])

    page.keyboard.press("a")
    page.reload()  # at once: the decision is sent again from the outbox if it was not recorded yet
    expect(page.locator(f'[data-ref="{refs[10]}"][data-status="approved"]')).to_be_visible()
    expect(page.locator(f'[data-ref="{refs[10]}"][data-saving]')).to_have_count(0, timeout=TIMEOUT_MS)
    assert review_board(services, big_job).reference(refs[10]).status == "approved"
    assert len(review_board(services, big_job).reference(refs[10]).versions[0].decisions) == 1
    context.close()
    median = statistics.median(fresh)
    print(
        "\nreview board, 200 references, 1440x900 (issue 22 today: fresh tab 2.0-2.6 s, "
        "6 thumbnails in view, → 0.44-0.76 s a key):\n"
        f"  fresh tab to 12 thumbnails in view: median {median:.2f} s "
        f"({', '.join(f'{s:.2f}' for s in fresh)}; first visit {cold:.2f} s); {in_view} thumbnails in view\n"
        f"  ten → 50 ms apart: cursor on the tenth card {settled * 1000:.0f} ms after the last press\n"
        f"  ten A 50 ms apart: all recorded {recorded:.2f} s after the first press"
    )
    assert in_view >= 24
    assert median < 6, "generous: two cores shared with the rest of the suite"
    assert settled < 2, "generous: the cursor moves in the browser"


@pytest.mark.parametrize("review_url", ["sample_job"], indirect=True)
def test_reject_on_the_board_then_regenerate_in_the_lightbox(
    browser: Browser, review_url: str, services: Services, sample_job: str
) -> None:
    refs = [r.ref for r in review_board(services, sample_job).references]
    page = browser.new_context(viewport=SCREEN).new_page()  # type: ignore[arg-type]
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(review_url)
    expect(page.locator(CURSOR)).to_have_attribute("data-ref", refs[0])
    page.keyboard.press("ArrowRight")
    page.keyboard.press("r")
    reason = page.get_by_placeholder("why: e.g. too dark, wrong coat")
    expect(reason).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("A rejection needs a reason")).to_be_visible()
    page.keyboard.type("wrong framing", delay=20)  # right after the error: every keystroke is kept
    expect(reason).to_have_value("wrong framing")
    page.keyboard.press("Enter")
    card = page.locator(f'[data-ref="{refs[1]}"]')
    expect(card).to_have_attribute("data-status", "rejected")
    expect(card.locator(".meta")).to_contain_text("“wrong framing”")
    expect(page.locator(f'[data-ref="{refs[1]}"][data-saving]')).to_have_count(0)
    assert review_board(services, sample_job).reference(refs[1]).status == "rejected"

    page.keyboard.press("v")
    dialog = page.get_by_role("dialog")
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
    # No reload: the page polls, and the board shows v2.
    expect(card.locator(".badge")).to_contain_text("pending · v2", timeout=15_000)
    latest = review_board(services, sample_job).reference(refs[1]).versions[-1]
    assert latest.negative_prompt.endswith(", underexposed, murky shadows")
