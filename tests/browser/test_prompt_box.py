"""The full-width prompt editor counts CLIP tokens as the creator types (the real tokenizer, a moment after
each keystroke), not when the box loses focus, and saves what was typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from studio.prompts import count_tokens
from studio.prompts.edits import edits, save_plan
from studio.samples import load_sample
from studio.services import Services
from tests.browser.conftest import new_page, settle

pytestmark = pytest.mark.browser

MORE = ", a long red coat with silver buttons"


def test_the_count_follows_the_typing_and_the_typed_prompt_is_saved(
    services: Services, studio_url: str, browser: Browser
) -> None:
    plan = load_sample("minimal")
    job_id = save_plan(services, plan, "sample minimal")
    page = new_page(browser)
    page.goto(f"{studio_url}/plan")  # a deep link, a fresh tab
    settle(page)
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    count = page.get_by_test_id("token-count")
    start = box.input_value()
    expect(count).to_have_text(f"{count_tokens(start)} of 75 tokens · {75 - count_tokens(start)} left")
    box.click()
    box.press("End")
    typed = start
    for _ in range(4):  # the box keeps focus throughout: nothing but typing tells the studio
        box.press_sequentially(MORE, delay=15)
        typed += MORE
        expect(count).to_contain_text(f"{count_tokens(typed)} of 75 tokens")
    assert count_tokens(typed) > 75
    expect(count).to_have_text(f"{count_tokens(typed)} of 75 tokens · the end is ignored")
    expect(page.get_by_text("SDXL ignores the end")).to_be_visible()
    page.get_by_role("button", name="Save prompt").click()
    expect(page.get_by_text("2 references, 1 edited")).to_be_visible()
    assert edits(services, job_id)["scene_rooftop"].prompt == typed.strip()
