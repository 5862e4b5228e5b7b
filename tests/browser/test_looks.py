"""In Chromium: upload a character, run a round of looks, pick one, and find it as the song's primary image on
Characters and in the manifest that `python -m studio export` writes for a job of the song."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from studio.plans.scene_plan import load_plan
from studio.prompts.edits import save_plan
from studio.references import jobs
from studio.review.gate import approve_many, review_board
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET
from tests.browser.conftest import new_page, settle, shot
from tests.cli_runner import studio
from tests.conftest import PLANS_DIR

pytestmark = pytest.mark.browser
SONG = "midnight-drive"
POSE_A = (
    Path(__file__).resolve().parents[2] / "studio" / "characters" / "templates" / "character-3" / "pose-a.png"
)


def _image_with_caption(page: Page, caption: str) -> bytes:
    """The bytes the page shows for the image captioned exactly `caption`."""
    image = page.locator('[data-testid="stImage"]').filter(
        has=page.locator('[data-testid="stImageCaption"]', has_text=caption)
    )
    expect(image).to_have_count(1)
    source = image.locator("img").get_attribute("src")
    assert source is not None
    return page.request.get(
        source if source.startswith("http") else page.url.split("/characters")[0] + source
    ).body()


def _wait_for_job(services: Services, job_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = services.records.jobs.get(job_id)
        if job is not None and job.status not in ("queued", "running"):
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_round_is_made_a_look_picked_and_exported_as_the_songs_character(
    studio_url: str, browser: Browser, services: Services
) -> None:
    page = new_page(browser)
    page.goto(f"{studio_url}/characters")
    page.get_by_label("New song", exact=True).fill(SONG)
    page.get_by_role("button", name="Create song").click()
    page.get_by_role("tab", name="Upload your own").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(POSE_A))
    page.get_by_role("button", name="Store pose A").click()
    expect(page.get_by_text("Consistent-character prompt")).to_be_visible()
    expect(page.get_by_text("Estimate: 4 looks on local, free (offline preview).")).to_be_visible()
    # the consistency job's round arrives in the feed without a reload
    expect(page.locator(f".st-key-more-{SONG}-r1-1 button")).to_be_enabled()
    expect(page.locator(f".st-key-pinned-{SONG}")).to_contain_text("Current pick: r1-1")

    page.get_by_role("button", name="Generate looks").click()
    pick = page.locator(f".st-key-pick-{SONG}-r2-3 button")
    expect(pick).to_be_enabled()
    for n in range(1, 5):
        expect(page.locator('[data-testid="stImageCaption"]', has_text=f"r2-{n}")).to_be_visible()
    settle(page)
    shot(page, "characters-looks", publish=True)
    picked_look = _image_with_caption(page, "r2-3")

    pick.click()
    primary = page.locator('[data-testid="stImageCaption"]', has_text="#1 generated · look r2-3 · primary")
    expect(primary).to_be_visible()
    expect(page.get_by_role("button", name="Picked")).to_be_disabled()
    settle(page)
    shot(page, "characters-picked")
    assert _image_with_caption(page, "#1 generated · look r2-3 · primary") == picked_look

    page.reload()  # a fresh session of the same address opens on the song and shows the pick
    assert f"song={SONG}" in page.url
    expect(page.locator('[data-testid="stImageCaption"]', has_text="look r2-3 · primary")).to_be_visible()

    more = page.locator(f".st-key-more-{SONG}-r2-3 button")
    expect(more).to_contain_text("More like this · 4 looks, free")
    more.click()  # one click starts round 3 from r2-3
    expect(page.locator(f".st-key-pick-{SONG}-r3-4 button")).to_be_enabled()
    expect(page.locator(f".st-key-source-{SONG}-r2-3")).to_contain_text("more like this → round 3")
    settle(page)
    shot(page, "characters-more-like-this")

    save_plan(services, load_plan(PLANS_DIR / "minimal.json"), "minimal")
    tab = new_page(browser)  # a new tab on Generate opens on the song last worked on
    tab.goto(f"{studio_url}/generate")
    expect(tab.get_by_role("combobox", name="Song")).to_have_value(SONG)
    expect(tab).to_have_url(re.compile(f"song={SONG}"))
    tab.close()

    job_id = jobs.submit(services, load_plan(PLANS_DIR / "minimal.json"), song_id=SONG)
    _wait_for_job(services, job_id)  # the app's background runner takes it from the queue
    approve_many(services, job_id, [reference.ref for reference in review_board(services, job_id).references])
    exported = studio("export", job_id, "--allow-preview", "--json")
    assert exported.code == 0, exported.stderr
    character = json.loads(exported.stdout)["character"]
    assert character["song_id"] == SONG
    assert (character["primary"]["source"], character["primary"]["look_id"]) == ("generated", "r2-3")
    assert character["primary"]["reason"].startswith("picked look r2-3 at ")
    generated = services.storage.get(CHARACTER_BUCKET, character["primary"]["key"])
    assert generated == services.storage.get(CHARACTER_BUCKET, f"songs/{SONG}/looks/r2-3.png")
