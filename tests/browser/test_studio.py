"""The studio in real headless Chromium: pick a template, load the sample plan, generate, review, export.

Drives Debian's Chromium (never a downloaded browser) through Playwright against `streamlit run` on a free
port with its own data dir. Screenshots go to test-artifacts/; with STUDIO_PUBLISH_SCREENSHOTS=1 the main
pages also replace the README's pictures in docs/screenshots/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, settle, shot

pytestmark = pytest.mark.browser


def test_a_new_user_picks_a_template_loads_the_sample_and_generates(studio_url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(studio_url)
            expect(page.get_by_role("heading", name="Reference Studio")).to_be_visible()
            expect(page.get_by_text("offline preview").first).to_be_visible()
            settle(page)
            shot(page, "home", publish=True)

            page.goto(f"{studio_url}/characters")
            page.get_by_label("New song", exact=True).fill("Midnight Drive")  # a title: its id is offered
            page.get_by_role("button", name="Create song").click()
            expect(page.get_by_role("combobox", name="Song")).to_have_value("midnight-drive")
            use = page.locator(".st-key-template-character-2 button")
            use.click()
            expect(page.get_by_text("Priority resolution")).to_be_visible()
            expect(page.locator('[data-testid="stImageCaption"]', has_text="template pose-a")).to_be_visible()
            settle(page)
            shot(page, "characters", publish=True)

            page.goto(f"{studio_url}/plan")
            page.get_by_role("button", name="Load sample").click()
            expect(page.get_by_text("6 references, 0 edited")).to_be_visible()
            settle(page)
            shot(page, "plan", publish=True)

            page.goto(f"{studio_url}/generate")
            page.get_by_role("button", name="Start generation").click()
            expect(page.get_by_text("6 of 6 stored")).to_be_visible()
            images = page.locator('[data-testid="stImage"] img')
            expect(images).to_have_count(6)
            for index in range(6):
                expect(images.nth(index)).to_be_visible()
                assert images.nth(index).evaluate("img => img.complete && img.naturalWidth > 0")
            assert max(images.nth(0).evaluate("img => [img.naturalWidth, img.naturalHeight]")) <= 256
            settle(page)
            shot(page, "generate", publish=True)

            page.goto(f"{studio_url}/review")
            expect(page.get_by_text("Before exporting")).to_be_visible()
            settle(page)
            page.get_by_role("button", name="Select pending shown (6)").click()
            page.get_by_role("button", name="Approve selected (6)").click()
            page.get_by_role("button", name="Approve 6", exact=True).click()  # a bulk approval confirms
            expect(page.get_by_role("radio", name="approved · 6")).to_be_visible()
            expect(page.locator("[data-ref][data-saving]")).to_have_count(0)
            shot(page, "review", publish=True)
            page.get_by_text("Export the previews anyway").click()  # offline previews: only on purpose
            settle(page)
            with page.expect_download() as download:
                page.get_by_role("button", name="Download the manifest (JSON)").click()
            manifest = json.loads(Path(download.value.path()).read_text())
            assert len(manifest["references"]) == 6
            assert {r["ref"] for r in manifest["references"]} >= {"scene_alley", "character_runner"}
            assert all(
                r["url"].startswith("http://127.0.0.1:8501/api/v1/objects/reference-images/")
                for r in manifest["references"]
            )

            page.goto(f"{studio_url}/costs")
            expect(page.get_by_role("heading", name="Costs")).to_be_visible()
            settle(page)
            shot(page, "costs", publish=True)
        finally:
            browser.close()
