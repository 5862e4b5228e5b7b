"""One song, end to end, as a creator and a reviewer do it in Chromium, each step from a fresh tab or a deep
link: create a song and store pose A, wait for its consistent character, pick a plan as the first thing on
Generate, generate for the song, cancel the run and see it called cancelled, run it again to the end and then
once more at $0, reject with a reason and regenerate, approve everything with the keyboard, and export: the
manifest's character is the song's generated image.

Images come from SDXL over the Replicate protocol (the project's server, 1.5 s a prediction, so a run can be
cancelled while it is in flight); interrogation is local.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import TIMEOUT_MS, new_page, served, settle, shot
from tests.servers.replicate import ReplicateServer

pytestmark = pytest.mark.browser

SONG = "midnight-drive"
PLAN_TITLE = "A lone singer on a rooftop at dusk"


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer(latency=1.5, output_scale=1 / 32) as running:
        yield running


@pytest.fixture
def studio_url(tmp_path: Path, server: ReplicateServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("REPLICATE_API_TOKEN", server.token)
    monkeypatch.setenv("REPLICATE_BASE_URL", server.base_url)
    monkeypatch.setenv("STUDIO_INTERROGATOR", "local")
    with served(tmp_path / "studio-data") as url:
        yield url


def portrait(path: Path) -> Path:
    image = Image.new("RGB", (320, 480), (40, 60, 160))
    for x in range(120, 200):
        for y in range(60, 420):
            image.putpixel((x, y), (230, 190, 150))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def choose(page: Page, label: str, option: str) -> None:
    """Open the select and click the option; a click that lands while an expander still opens is repeated."""
    box = page.get_by_role("combobox", name=label)
    choice = page.get_by_role("option", name=re.compile("^" + re.escape(option)))
    for _ in range(3):
        box.click()
        try:
            choice.click(timeout=3_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    else:
        raise AssertionError(f"{label}: the option {option!r} never showed")
    expect(box).to_have_value(re.compile("^" + re.escape(option)))
    settle(page)


def open_expander(page: Page, title: str, inside: Locator) -> None:
    """Open the expander unless what it holds shows already (no plan yet: the loader is not folded)."""
    expander = page.locator("details", has_text=title)
    for _ in range(40):
        if inside.is_visible():
            return
        if expander.count() and expander.get_attribute("open") is None:
            expander.locator("summary").click()
        page.wait_for_timeout(250)
    raise AssertionError(f"the expander {title!r} never showed what it holds")


def test_one_song_from_its_character_to_the_manifest(
    studio_url: str, browser: Browser, tmp_path: Path
) -> None:
    creator = new_page(browser)
    creator.goto(f"{studio_url}/characters")
    creator.get_by_label("New song", exact=True).fill(SONG)
    creator.get_by_role("button", name="Create song").click()
    settle(creator)
    creator.get_by_role("tab", name="Upload your own").click()
    creator.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        portrait(tmp_path / "me.png")
    )
    creator.get_by_role("button", name="Store pose A").click()
    expect(creator.get_by_text("The consistency job is queued")).to_be_visible()
    caption = creator.locator(
        '[data-testid="stImageCaption"]', has_text=re.compile(r"generated · look r1-1 · primary")
    )
    expect(caption).to_be_visible(timeout=60_000)
    shot(creator, "story-characters")

    creator.goto(f"{studio_url}/plan")
    settle(creator)
    for sample, title in (("music-video", "A neon-soaked chase"), ("minimal", PLAN_TITLE)):
        sample_box = creator.get_by_role("combobox", name="Sample")
        open_expander(creator, "Load a sample, upload a plan file", sample_box)
        choose(creator, "Sample", sample)
        creator.get_by_role("button", name="Load sample").click()
        expect(creator.get_by_role("heading", name=title)).to_be_visible()
        settle(creator)

    fresh = new_page(browser)  # a new session: it opens on the song; its first act is picking the plan
    fresh.goto(f"{studio_url}/generate")
    settle(fresh)
    choose(fresh, "Scene plan", PLAN_TITLE)
    expect(fresh.get_by_role("combobox", name="Song")).to_have_value(SONG)  # the song last worked on
    fresh.get_by_role("button", name="Start generation").click()
    fresh.get_by_role("button", name="Cancel").click()
    expect(fresh.get_by_text(re.compile(r"cancelled · \d of 2"))).to_be_visible(timeout=TIMEOUT_MS)
    expect(fresh.locator("td", has_text="cancelled by you").first).to_be_attached()
    assert fresh.get_by_text("threshold_not_met").count() == 0, "a cancel is not a failure"
    shot(fresh, "story-cancelled")

    fresh.get_by_role("button", name="Generate again (reuses stored images)").click()
    expect(fresh.get_by_text("2 of 2 stored")).to_be_visible(timeout=60_000)
    fresh.get_by_role("button", name="Generate again (reuses stored images)").click()
    expect(fresh.get_by_text("0 generated · 2 reused · $0.00 this run")).to_be_visible(timeout=60_000)
    shot(fresh, "story-rerun", publish=True)

    reviewer = new_page(browser)
    reviewer.goto(f"{studio_url}/review")
    expect(reviewer.get_by_text("Before exporting")).to_be_visible()
    settle(reviewer)
    cursor = reviewer.locator('[data-ref][aria-current="true"]')
    expect(cursor).to_be_visible()
    expect(reviewer.get_by_text(f"Song {SONG}")).to_be_visible()
    rejected = cursor.get_attribute("data-ref")
    reviewer.keyboard.press("r")
    expect(reviewer.get_by_placeholder("why: e.g. too dark, wrong coat")).to_be_focused()
    reviewer.keyboard.type("too dark")
    reviewer.keyboard.press("Enter")
    card = reviewer.locator(f'[data-ref="{rejected}"]')
    expect(card).to_have_attribute("data-status", "rejected")
    expect(reviewer.locator(f'[data-ref="{rejected}"][data-saving]')).to_have_count(0)
    reviewer.keyboard.press("v")
    dialog = reviewer.get_by_role("dialog")
    dialog.get_by_label("What to change").fill("brighter dusk light")
    dialog.get_by_label("What to change").press("Enter")
    dialog.get_by_role("button", name="Regenerate").click()
    expect(dialog.get_by_text("v2 is queued")).to_be_visible()
    expect(dialog.get_by_text("pending · v2")).to_be_visible(timeout=60_000)  # it arrives in the lightbox
    settle(reviewer)
    reviewer.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(card.locator(".badge")).to_contain_text("pending · v2")
    settle(reviewer)
    for approved in (1, 2):  # the keys are the board's again
        reviewer.keyboard.press("a")
        expect(reviewer.get_by_role("radio", name=f"approved · {approved}")).to_be_visible()
    expect(reviewer.locator("[data-ref][data-saving]")).to_have_count(0)
    download = reviewer.get_by_role("button", name="Download the manifest (JSON)")
    expect(download).to_be_enabled(timeout=TIMEOUT_MS)
    shot(reviewer, "story-review")
    with reviewer.expect_download() as downloaded:
        download.click()
    manifest = json.loads(Path(downloaded.value.path()).read_text())
    assert manifest["character"]["song_id"] == SONG
    primary = manifest["character"]["primary"]
    assert primary["source"] == "generated" and primary["key"] == f"songs/{SONG}/character_generated.png"
    assert len(manifest["references"]) == 2
