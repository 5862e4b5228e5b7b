"""Scene plan & prompts: load a plan, refuse a bad one by field, store prompt edits apart from synthesis."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from studio.prompt_edits import edits, prompt_rows, save_plan
from studio.samples import load_sample
from studio.services import Services
from tests.app.conftest import OpenPage


def _edit(at: AppTest, job_id: str, rows: dict[int, dict[str, object]]) -> AppTest:
    generation = f"prompts-generation-{job_id}"
    key = f"prompts-{job_id}-{at.session_state.get(generation, 0)}"
    at.session_state[key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return at.run()


def test_loading_a_sample_shows_a_prompt_per_reference(open_page: OpenPage) -> None:
    at = open_page("pages/plan.py")
    at.selectbox(key="sample-plan").set_value("music-video")
    at.button(key="load-sample").click().run()
    assert not at.exception
    table = at.data_editor[0].value
    assert list(table["ref"])[:2] == ["scene_alley", "scene_rooftops"]
    assert len(table) == 6
    assert not at.warning, "the sample plan's synthesized prompts fit SDXL's 75 tokens"


def test_an_invalid_plan_is_refused_naming_the_field(open_page: OpenPage, services: Services) -> None:
    at = open_page("pages/plan.py")
    plan = json.loads(load_sample("minimal").model_dump_json())
    plan["scenes"][0]["id"] = "../rooftop"
    at.text_area[0].set_value(json.dumps(plan))
    at.button(key="save-plan-json").click().run()
    assert [e.value for e in at.error] and "scenes[0].id" in at.error[0].value
    assert not at.data_editor


def test_a_prompt_edit_is_stored_and_survives_a_style_change(open_page: OpenPage, services: Services) -> None:
    plan = load_sample("minimal")
    job_id = save_plan(services, plan, "sample minimal")
    at = open_page("pages/plan.py")
    assert at.data_editor[0].value["ref"][0] == "scene_rooftop"
    _edit(at, job_id, {0: {"prompt": "a rooftop in charcoal"}, 1: {"lock": True}})
    assert not at.exception and not at.error
    stored = edits(services, job_id)
    assert stored["scene_rooftop"].prompt == "a rooftop in charcoal"
    assert stored[at.data_editor[0].value["ref"][1]].seed_locked
    assert at.data_editor[0].value["prompt"][0] == "a rooftop in charcoal"

    restyled = plan.model_copy(update={"style": plan.style.model_copy(update={"visual_style": "ukiyo-e"})})
    save_plan(services, restyled, "edited")
    at.run()
    table = at.data_editor[0].value
    assert table["prompt"][0] == "a rooftop in charcoal" and table["edited"][0] == "yes"
    assert "ukiyo-e" in table["prompt"][1]


def test_reset_returns_a_row_to_the_synthesized_prompt(open_page: OpenPage, services: Services) -> None:
    plan = load_sample("minimal")
    job_id = save_plan(services, plan, "sample minimal")
    at = open_page("pages/plan.py")
    _edit(at, job_id, {0: {"prompt": "something else", "seed": 42}})
    _edit(at, job_id, {0: {"reset": True}})
    assert edits(services, job_id) == {}
    assert at.data_editor[0].value["prompt"][0] == prompt_rows(services, plan)[0].synthesized_prompt


def test_an_empty_prompt_is_refused(open_page: OpenPage, services: Services) -> None:
    job_id = save_plan(services, load_sample("minimal"), "sample minimal")
    at = open_page("pages/plan.py")
    _edit(at, job_id, {0: {"prompt": "  "}})
    assert any("scene_rooftop.prompt" in e.value for e in at.error)
    assert edits(services, job_id) == {}
