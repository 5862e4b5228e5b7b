"""A plan edited as rows and fields keeps what the form does not show, and its problems read as words."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from studio.errors import InvalidInput
from studio.plans.editing import (
    StyleFields,
    character_rows,
    edited_plan,
    field_words,
    problem_lines,
    scene_rows,
    style_fields,
)
from studio.plans.scene_plan import CharacterFeatures
from studio.samples import load_sample


def test_rows_round_trip_to_the_same_plan() -> None:
    plan = load_sample("music-video")
    assert edited_plan(plan, scene_rows(plan), character_rows(plan), style_fields(plan)) == plan


def test_edits_change_scenes_characters_and_style_and_keep_the_rest() -> None:
    plan = load_sample("music-video")
    plan.characters[0].features = CharacterFeatures(hair="buzz cut")
    scenes = scene_rows(plan)
    scenes[0] |= {"description": "A flooded alley", "time_of_day": "dusk"}
    scenes.append({"id": "pier", "description": "An empty pier", "time_of_day": math.nan})
    scenes.append({"id": None, "description": None, "time_of_day": None})  # a blank row the table added
    characters = character_rows(plan)[:1]
    characters[0] |= {"name": "Kai", "role": ""}
    style = style_fields(plan).model_copy(update={"mood": "hopeful", "palette": "#ff2e88 00e5ff"})
    edited = edited_plan(plan, scenes, characters, style)
    assert [s.id for s in edited.scenes] == ["alley", "rooftops", "subway", "diner", "pier"]
    assert (edited.scenes[0].description, edited.scenes[0].time_of_day) == ("A flooded alley", "dusk")
    assert edited.scenes[-1].time_of_day is None
    [kai] = edited.characters
    assert (kai.name, kai.role, kai.features) == ("Kai", "supporting", CharacterFeatures(hair="buzz cut"))
    assert edited.style.mood == "hopeful" and edited.style.color_palette == ["#FF2E88", "#00E5FF"]
    assert edited.clip_scripts == plan.clip_scripts and edited.job_id == plan.job_id


def test_a_bad_row_is_refused_naming_it_in_words() -> None:
    plan = load_sample("minimal")
    scenes = [*scene_rows(plan), {"id": "../x", "description": "A cliff", "time_of_day": ""}]
    with pytest.raises(InvalidInput) as caught:
        edited_plan(plan, scenes, character_rows(plan), StyleFields())
    lines = problem_lines(caught.value)
    assert lines and lines[0].startswith("Scene 2 · id: ")


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("scenes[1].time_of_day", "Scene 2 · time of day"),
        ("characters[0].features.hair", "Character 1 · features · hair"),
        ("style.color_palette[2]", "style · Colour 3"),
        ("plan", "plan"),
    ],
)
def test_field_paths_read_as_words(field: str, words: str) -> None:
    assert field_words(field) == words


@dataclass
class _Problem:
    field: str
    problem: str


def test_every_listed_problem_gets_its_own_line() -> None:
    error = InvalidInput("plan", "has 3 problems")
    error.problems = [  # type: ignore[attr-defined]
        _Problem("scenes[0].id", "is not a safe name"),
        _Problem("scenes[2].description", "must not be empty"),
        _Problem("characters", "the plan has no characters"),
    ]
    assert problem_lines(error) == [
        "Scene 1 · id: is not a safe name",
        "Scene 3 · description: must not be empty",
        "characters: the plan has no characters",
    ]
    assert problem_lines(InvalidInput("scenes[0].id", "bad")) == ["Scene 1 · id: bad"]
