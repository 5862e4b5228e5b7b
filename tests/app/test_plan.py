"""Scene plan & prompts: load a plan, refuse a bad one by field, store prompt edits apart from synthesis."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from components.prompt_table import TOKEN_COLOURS
from studio.errors import InvalidInput
from studio.plans.scene_plan import parse_plan
from studio.prompts.edits import PromptChange, edit_reference, edits, get_plan, prompt_rows, save_plan
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
    assert [e.value for e in at.error] and at.error[0].value.startswith("Scene 1 · id: ")
    assert not at.data_editor


def test_text_that_cannot_be_stored_and_reversed_clips_are_listed_together(open_page: OpenPage) -> None:
    at = open_page("pages/plan.py")
    plan = json.loads(load_sample("minimal").model_dump_json())
    plan["scenes"][0]["description"] = "a quiet\u0000street"
    plan["characters"][0]["description"] = "x" * 400_000
    plan["clip_scripts"] = [{"clip_index": 0, "start": 5, "end": 2, "visual_description": "a jump"}]
    at.text_area[0].set_value(json.dumps(plan))
    at.button(key="save-plan-json").click().run()
    [error] = [e.value for e in at.error]
    assert "3 things to fix" in error, error
    assert "Scene 1 · description: contains a control character U+0000" in error
    assert "Character 1 · description: is 400,000 characters long" in error
    assert "ends at 2 s, before its start at 5 s" in error
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


def test_token_counts_are_coloured_at_sdxls_limit(open_page: OpenPage, services: Services) -> None:
    plan = load_sample("minimal")
    job_id = save_plan(services, plan, "sample minimal")
    edit_reference(services, plan, "scene_rooftop", PromptChange(prompt="neon rooftop " * 40))
    at = open_page("pages/plan.py")
    table = at.data_editor[0]
    assert list(table.value["tokens"]) == [row.token_count for row in prompt_rows(services, plan)]
    styles = table.proto.arrow_data.styler.styles
    assert re.search(rf"row0_col\d+ {{ color: {TOKEN_COLOURS['over']}", styles), styles
    assert re.search(rf"row1_col\d+ {{ color: {TOKEN_COLOURS['fits']}", styles), styles
    assert table.value["CLIP"][0] == "end ignored"
    assert table.value["CLIP"][1] == "fits" and job_id


def test_the_full_width_editor_counts_tokens_and_saves_a_prompt(
    open_page: OpenPage, services: Services
) -> None:
    job_id = save_plan(services, load_sample("minimal"), "sample minimal")
    at = open_page("pages/plan.py")
    at.selectbox(key=f"prompt-editor-ref-{job_id}").set_value("character_singer").run()
    box = f"prompt-editor-{job_id}-character_singer-0-prompt"  # the count as typed: tests/browser
    at.session_state[box] = {"text": "a singer in a long red coat, " * 12}  # as the browser sends it
    at.run()
    next(b for b in at.button if b.label == "Save prompt").click().run()
    assert not at.exception and not at.error
    assert (
        edits(services, job_id)["character_singer"].prompt == ("a singer in a long red coat, " * 12).strip()
    )
    assert at.data_editor[0].value["edited"][1] == "yes"


def _form_key(services: Services, job_id: str) -> str:
    plan = get_plan(services, job_id)
    assert plan is not None
    return f"plan-form-{job_id}-{hashlib.sha256(plan.model_dump_json().encode()).hexdigest()[:12]}"


def test_scenes_and_characters_are_edited_without_json(open_page: OpenPage, services: Services) -> None:
    job_id = save_plan(services, load_sample("minimal"), "sample minimal")
    at = open_page("pages/plan.py")
    key = _form_key(services, job_id)
    at.session_state[f"{key}-scenes"] = {
        "edited_rows": {0: {"description": "A flooded rooftop", "time_of_day": "dawn"}},
        "added_rows": [{"id": "pier", "description": "An empty pier"}],
        "deleted_rows": [],
    }
    at.session_state[f"{key}-characters"] = {
        "edited_rows": {0: {"name": "Nova", "role": "main character"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    next(b for b in at.button if b.label == "Save scenes, characters and style").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    plan = get_plan(services, job_id)
    assert plan is not None
    assert [(s.id, s.description, s.time_of_day) for s in plan.scenes] == [
        ("rooftop", "A flooded rooftop", "dawn"),
        ("pier", "An empty pier", None),
    ]
    assert (plan.characters[0].name, plan.characters[0].role) == ("Nova", "main character")
    assert list(at.data_editor[0].value["ref"]) == ["scene_rooftop", "scene_pier", "character_singer"]


def test_a_bad_form_row_is_refused_in_words_and_nothing_is_saved(
    open_page: OpenPage, services: Services
) -> None:
    plan = load_sample("minimal")
    job_id = save_plan(services, plan, "sample minimal")
    at = open_page("pages/plan.py")
    at.session_state[f"{_form_key(services, job_id)}-scenes"] = {
        "edited_rows": {0: {"id": "roof top!"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    next(b for b in at.button if b.label == "Save scenes, characters and style").click().run()
    assert at.error and at.error[0].value.startswith("Scene 1 · id: ")
    assert get_plan(services, job_id) == plan


def test_every_problem_of_a_plan_is_listed_at_once(open_page: OpenPage) -> None:
    at = open_page("pages/plan.py")
    plan = json.loads(load_sample("music-video").model_dump_json())
    plan["scenes"][0]["id"] = "../alley"
    plan["scenes"][2]["description"] = " "
    plan["style"]["color_palette"] = ["not-a-colour"]
    at.text_area[0].set_value(json.dumps(plan))
    at.button(key="save-plan-json").click().run()
    [error] = at.error
    for words in ("Scene 1 · id", "Scene 3 · description", "style · "):
        assert words in error.value, error.value


def test_palette_chips_are_drawn_in_their_own_colours(open_page: OpenPage, services: Services) -> None:
    plan = load_sample("music-video")
    save_plan(services, plan, "sample music-video")
    at = open_page("pages/plan.py")
    chips = at.html[0].value
    for colour in plan.style.color_palette:
        assert f"background:{colour}" in chips
    assert "hot pink" in chips


def test_the_page_lists_every_problem_the_command_line_lists(open_page: OpenPage) -> None:
    """A duplicate scene id and a colour name beside other problems: none is left for a second try."""
    plan = json.loads(load_sample("music-video").model_dump_json())
    plan["scenes"][1]["id"] = plan["scenes"][0]["id"]
    plan["style"]["color_palette"] = ["red"]
    plan["scenes"][2]["description"] = ""
    plan["characters"][0]["description"] = ""
    with pytest.raises(InvalidInput) as refused:
        parse_plan(json.dumps(plan))
    assert len(refused.value.problems) == 4, "the duplicate id is listed beside the field problems"
    at = open_page("pages/plan.py")
    at.text_area[0].set_value(json.dumps(plan))
    at.button(key="save-plan-json").click().run()
    [error] = [e.value for e in at.error]
    assert f"{len(refused.value.problems)} things to fix" in error, error
    assert "duplicate id" in error and "'red' is not a hex colour" in error
