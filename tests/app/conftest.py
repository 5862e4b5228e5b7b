"""AppTest fixtures: the app on the test's fresh data dir, its runner stopped and services closed after."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.setup import JOB_KEY, shutdown
from studio.prompts.edits import save_plan
from studio.samples import load_sample
from studio.services import Services

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
OpenPage = Callable[[str], AppTest]


@pytest.fixture
def open_page(clean_environment: Path) -> Iterator[OpenPage]:
    """Open one page of the app (`pages/plan.py`), run it, and return the AppTest."""

    def open_(page: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        at.switch_page(page)
        return at.run()

    yield open_
    shutdown()


@pytest.fixture
def sample_job(services: Services) -> Callable[[AppTest, str], str]:
    """Save a sample plan as a draft and make it the app's current job."""

    def select(at: AppTest, name: str = "minimal") -> str:
        job_id = save_plan(services, load_sample(name), f"sample {name}")
        at.session_state[JOB_KEY] = job_id
        return job_id

    return select


def wait_for_job(services: Services, job_id: str, timeout: float = 30) -> str:
    """Wait until the app's background runner has finished the job; returns its status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = services.records.jobs.get(job_id)
        if job is not None and job.status not in ("queued", "running"):
            return job.status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish within {timeout}s")
