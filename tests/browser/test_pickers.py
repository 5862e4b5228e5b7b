"""A plan picked as the very first interaction of a fresh tab is the plan Generate shows and generates."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from studio.prompts.edits import save_plan
from studio.samples import load_sample
from studio.services import Services
from tests.browser.conftest import new_page, settle, shot

pytestmark = pytest.mark.browser

SMALL = "A neon-soaked chase through a rain-slick city…"
LARGE = "A road-trip montage across two dozen locations"


@pytest.fixture
def two_plans(services: Services) -> None:
    """The 6-image plan, then the 32-image one (listed first: the picker's default)."""
    save_plan(services, load_sample("music-video"), "sample music-video")
    save_plan(services, load_sample("road-trip-32"), "sample road-trip-32")


def pick(page: Page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()


def expect_picked(page: Page, label: str, option: str) -> None:
    expect(page.get_by_role("combobox", name=label)).to_have_value(re.compile("^" + re.escape(option)))


def images_metric(page: Page) -> Locator:
    """The metric that counts the picked plan's images (waited on: a pick's rerun may still be under way)."""
    metric = page.get_by_test_id("stMetric").filter(has_text="images")
    return metric.get_by_test_id("stMetricValue")


def test_the_plan_picked_first_on_generate_is_generated(
    two_plans: None, studio_url: str, browser: Browser
) -> None:
    page = new_page(browser)
    page.goto(f"{studio_url}/generate")
    expect_picked(page, "Scene plan", LARGE)
    settle(page)
    pick(page, "Scene plan", SMALL)
    expect_picked(page, "Scene plan", SMALL)
    settle(page)
    expect(images_metric(page)).to_have_text("6")
    page.get_by_role("button", name="Start generation").click()
    expect(page.get_by_text("6 of 6 stored")).to_be_visible()
    expect_picked(page, "Scene plan", SMALL)
    settle(page)
    shot(page, "picker-generate")


def test_the_plan_picked_first_on_plan_is_the_one_on_generate(
    two_plans: None, studio_url: str, browser: Browser
) -> None:
    page = new_page(browser)
    page.goto(f"{studio_url}/plan")
    settle(page)
    pick(page, "Scene plan", SMALL)
    expect(page.get_by_text("6 references, 0 edited")).to_be_visible()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Generate", exact=True).click()
    expect(page.get_by_role("heading", name="Generate", exact=True)).to_be_visible()
    expect_picked(page, "Scene plan", SMALL)
    settle(page)
    expect(images_metric(page)).to_have_text("6")
