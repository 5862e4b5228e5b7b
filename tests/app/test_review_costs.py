"""Review and Costs pages in AppTest: an empty data dir, the ledger (the board is in test_review_board)."""

from __future__ import annotations

import asyncio

import pytest
from streamlit.testing.v1 import AppTest

from components.setup import JOB_KEY
from studio.costs.report import cost_report
from studio.money import usd
from studio.plans.scene_plan import load_plan
from studio.references.jobs import generate_references
from studio.services import Services
from tests.app.conftest import OpenPage
from tests.conftest import PLANS_DIR
from tests.fakes import as_if_killed

SCENE, CHARACTER = "scene_rooftop", "character_singer"


def generated(services: Services) -> str:
    plan = load_plan(PLANS_DIR / "minimal.json")
    asyncio.run(generate_references(services, plan.job_id, plan))
    return str(plan.job_id)


def on_job(at: AppTest, job_id: str) -> AppTest:
    at.session_state[JOB_KEY] = job_id
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize("page", ["pages/review.py", "pages/costs.py"])
def test_page_opens_on_an_empty_data_dir(open_page: OpenPage, page: str) -> None:
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error and at.title and at.info


def test_costs_page_shows_the_ledger(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services)
    as_if_killed(services, job_id)
    generated(services)  # a resume: two reused images, $0, saved
    at = on_job(open_page("pages/costs.py"), job_id)
    assert not at.exception, [e.value for e in at.exception]
    report = cost_report(services, job_id)
    assert metrics(at)["total"] == usd(report.total)
    ledger = at.dataframe[-1].value
    assert len(ledger) == len(report.entries) == 4
    assert list(ledger["reference"]) == [e.ref for e in report.entries]
    assert ledger["cache hit"].sum() == 2
    assert len(at.get("download_button")) == 1
    assert len(at.get("arrow_vega_lite_chart")) >= 2 or len(at.get("vega_lite_chart")) >= 2
