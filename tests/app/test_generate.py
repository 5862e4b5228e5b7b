"""Generate: the estimate before starting, a generation on the local backends, edits used, the gallery."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from components.setup import JOB_KEY
from studio.errors import GenerationError
from studio.generation.png_parameters import parse_parameters
from studio.prompts.edits import PromptChange, edit_reference, get_plan
from studio.references import jobs
from studio.samples import load_sample
from studio.services import Services
from studio.work.runner import drain
from tests.app.conftest import OpenPage, wait_for_job
from tests.fakes import Outcome, ScriptedGenerator, fatal

SampleJob = Callable[[AppTest, str], str]


def test_the_estimate_is_shown_before_starting(open_page: OpenPage, sample_job: SampleJob) -> None:
    at = open_page("pages/generate.py")
    job_id = sample_job(at, "music-video")
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["images"] == "6" and metrics["estimate"] == "$0.00"
    assert metrics["budget"].startswith("$")
    assert any("Not started" in c.value for c in at.caption)
    assert at.button(key=f"start-{job_id}")


def test_a_generation_on_the_local_backends_fills_the_gallery(
    open_page: OpenPage, sample_job: SampleJob, services: Services
) -> None:
    at = open_page("pages/generate.py")
    job_id = sample_job(at, "minimal")
    plan = get_plan(services, job_id)
    assert plan is not None
    edit_reference(services, plan, "scene_rooftop", PromptChange(prompt="a rooftop drawn in charcoal"))
    at.run()
    at.button(key=f"start-{job_id}").click().run()
    assert not at.exception and not at.error
    assert wait_for_job(services, job_id) == "success"
    at.run()
    references = len(plan.scenes) + len(plan.characters)
    assert len(at.image) == references
    assert len(at.get("download_button")) == references
    assert any("success" in s.value for s in at.success)
    parameters = [parse_parameters(code.value) for code in at.code]
    assert {"prompt": "a rooftop drawn in charcoal"}.items() <= parameters[0].items()
    assert services.records.references.of_job(job_id)["scene_rooftop"].prompt == "a rooftop drawn in charcoal"


def test_a_failed_reference_is_a_gallery_card_with_its_whole_error(
    open_page: OpenPage, services: Services
) -> None:
    refusal = (
        "The model refused the prompt for scene_diner: the request was flagged by the provider's safety "
        "system (category: violence, score 0.91). Rephrase the description of the diner and try again; "
        "a retry with the same prompt will be refused the same way. Request id 8c1f0e2a-long-tail-end."
    )
    script: dict[str, list[Outcome]] = {
        "scene_diner": [GenerationError(refusal, retryable=False, reason="content_policy")]
    }
    scripted = dataclasses.replace(services, generator=ScriptedGenerator(script=script))
    job_id = jobs.submit(scripted, load_sample("music-video"))
    asyncio.run(drain(scripted))
    at = open_page("pages/generate.py")
    at.session_state[JOB_KEY] = job_id
    at.run()
    assert not at.exception
    assert len(at.image) == 5, "the five stored references"
    assert [e.value for e in at.error] == [
        "The provider refused to draw it (often its safety filter): rephrase the prompt."
    ]
    assert len([c for c in at.code if c.value.endswith(refusal)]) == 1, "the whole message, folded away"
    assert any(m.value.endswith("**scene_diner**") and "failed" in m.value for m in at.markdown)


def test_the_board_says_how_the_job_ended_by_outcome_and_in_words(
    open_page: OpenPage, services: Services
) -> None:
    """Most references failed: the bar shows stored and failed apart (never "6 of 6 done"), the reason in
    words, not the seed's code."""
    scripted = dataclasses.replace(
        services, generator=ScriptedGenerator(fail_when=lambda r: fatal() if r.kind == "scene" else None)
    )
    job_id = jobs.submit(scripted, load_sample("music-video"))
    asyncio.run(drain(scripted))
    rows = scripted.records.references.of_job(job_id).values()
    stored, failed = (sum(1 for r in rows if r.status == status) for status in ("stored", "failed"))
    assert failed > stored > 0
    at = open_page("pages/generate.py")
    at.session_state[JOB_KEY] = job_id
    at.run()
    assert not at.exception
    page = " ".join(str(e.proto) for e in at.get("html")) + " ".join(e.value for e in at.error)
    assert f'aria-label=\\"{stored} stored, {failed} failed\\"' in page, page
    assert "too few images were made" in page.lower() and "threshold_not_met" not in page
