"""Review and Costs pages in AppTest: empty data dir, the approve/reject/regenerate flow, the ledger table."""

from __future__ import annotations

import asyncio

import pytest
from streamlit.testing.v1 import AppTest

from components.setup import JOB_KEY
from studio.costs import cost_report
from studio.money import usd
from studio.pipeline import generate_references
from studio.plan import load_plan
from studio.review import export_manifest, review_board
from studio.services import Services
from tests.app.conftest import OpenPage, wait_for_job
from tests.conftest import PLANS_DIR

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


def test_approve_reject_regenerate_and_export(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services)
    at = on_job(open_page("pages/review.py"), job_id)
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["⏳ pending"] == "2"
    assert any("Export refused" in e.value and SCENE in e.value for e in at.error)
    assert at.selectbox(key=f"review-ref-{job_id}").value == SCENE
    assert any("Steps" in str(row) or "prompt" in str(row) for row in at.dataframe[-1].value.values)

    at.button(key=f"approve-{SCENE}").click().run()
    assert any(f"{SCENE} v1 approved" in s.value for s in at.success)
    assert at.selectbox(key=f"review-ref-{job_id}").value == CHARACTER, "approve moves to the next pending"

    reject_button = next(b for b in at.button if b.label == "Reject")
    reject_button.click().run()
    assert any("reason" in e.value for e in at.error), "a rejection needs a reason"
    at.text_input(key=f"reason-{CHARACTER}").input("wrong jacket")
    next(b for b in at.button if b.label == "Reject").click().run()
    assert any(f"{CHARACTER} v1 rejected" in s.value for s in at.success)
    assert at.text_input(key=f"note-{CHARACTER}").value == ""
    at.text_input(key=f"note-{CHARACTER}").input("red jacket")

    at.button(key=f"regenerate-{CHARACTER}").click().run()
    assert any("queued" in s.value for s in at.success)
    assert wait_for_job(services, job_id) == "success"
    assert review_board(services, job_id).reference(CHARACTER).status == "pending"
    at.run()
    assert at.selectbox(key=f"review-ref-{job_id}").value == CHARACTER
    at.button(key=f"approve-{CHARACTER}").click().run()
    assert metrics(at)["✅ approved"] == "2"
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("download_button")) >= 1
    exported = export_manifest(services, job_id).references
    assert [(r.ref, r.version) for r in exported] == [(SCENE, 1), (CHARACTER, 2)]


def test_costs_page_shows_the_ledger(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services)
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
