"""The studio served by `streamlit run` on a free port with its own data dir, and Debian's Chromium.

Every test gets a fresh server process: the first request it sees is the test's first page, as for a user
opening a bookmark right after a deploy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from benchmarks.app_start import free_port, start_studio, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PUBLISH = os.environ.get("STUDIO_PUBLISH_SCREENSHOTS") == "1"
"""Read at import: every test's environment is cleared of STUDIO_ variables."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)  # a page's first run, two browsers and two servers on two cores
VIEWPORT = {"width": 1400, "height": 1000}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not CHROMIUM.exists():
        skip = pytest.mark.skip(reason="Debian's chromium is not installed (make system-deps)")
        for item in items:
            item.add_marker(skip)


@contextmanager
def served(data_dir: Path, *options: str, port: int | None = None) -> Iterator[str]:
    """`streamlit run` over `data_dir` (with Streamlit `options`) on `port` or a free one, healthy; stopped on
    the way out."""
    port = port or free_port()
    process = start_studio(data_dir, port, *options)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url
    finally:
        stop(process)


@pytest.fixture
def studio_url(tmp_path: Path) -> Iterator[str]:
    with served(tmp_path / "studio-data") as url:
        yield url


@contextmanager
def chromium(*args: str) -> Iterator[Browser]:
    """Headless Chromium (Debian's) with the suite's flags and `args`; closed on the way out."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *args])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def new_page(browser: Browser) -> Page:
    """A page in a fresh browser context: no cookies, no storage, no Streamlit session."""
    page = browser.new_context(viewport=VIEWPORT).new_page()  # type: ignore[arg-type]
    page.set_default_timeout(TIMEOUT_MS)
    return page


def shot(page: Page, name: str, *, publish: bool = False) -> None:
    """A screenshot of the whole page: the viewport grows to Streamlit's scrolling main block first."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], "
        "[data-testid=stMainBlockContainer]')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(height + 40, 900), 6000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    if publish and PUBLISH:  # refresh the README's pictures
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{name}.png")


def settle(page: Page) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=TIMEOUT_MS)
