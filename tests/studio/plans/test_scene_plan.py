"""Plan validation: every problem at once, each naming its field; nothing unstorable or unrenderable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from studio.errors import InvalidInput, Problem
from studio.plans.scene_plan import MAX_NESTING, ScenePlan, load_plan, parse_plan, plan_problems
from tests.conftest import PLANS_DIR


def _plan(**changes: Any) -> dict[str, Any]:
    plan: dict[str, Any] = json.loads((PLANS_DIR / "music-video.json").read_text())
    plan.update(changes)
    return plan


def _problems(plan: dict[str, Any] | str) -> dict[str, str]:
    data = plan if isinstance(plan, str) else json.dumps(plan)
    return {p.field: p.problem for p in plan_problems(data)}


@pytest.mark.parametrize("path", sorted(PLANS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_the_sample_plans_are_valid(path: Path) -> None:
    assert isinstance(load_plan(path), ScenePlan)
    assert plan_problems(path.read_bytes()) == []


def test_a_plan_as_planners_write_it_has_no_job_id_and_long_descriptions() -> None:
    from studio.prompts.synthesis import MAX_PROMPT_CHARS, synthesize

    plan = _plan()
    del plan["job_id"]
    plan["scenes"][0]["description"] = "A neon-lit diner at the edge of the city, rain on the glass. " * 60
    assert len(plan["scenes"][0]["description"]) >= 3_600
    given = parse_plan(json.dumps(plan))
    assert given.job_id.version == 4 and given.job_id != parse_plan(json.dumps(plan)).job_id
    assert parse_plan(given.model_dump_json()).job_id == given.job_id, "the given id goes with the plan"
    assert all(len(prompt.prompt) <= MAX_PROMPT_CHARS for prompt in synthesize(given)), "prompts are trimmed"


def test_every_problem_is_reported_at_once_with_its_field() -> None:
    plan = _plan()
    plan["scenes"][0]["description"] = "  "
    plan["scenes"][1]["id"] = "../x"
    plan["characters"][0]["description"] = "x\u0000"
    plan["clip_scripts"][0]["end"] = -3
    plan["transitions"] = [{"from_clip": 0, "to_clip": 1, "type": "zap", "duration": 1}]
    with pytest.raises(InvalidInput) as caught:
        parse_plan(json.dumps(plan))
    error = caught.value
    assert [p.field for p in error.problems] == [
        "characters[0].description",
        "scenes[0].description",
        "scenes[1].id",
        "clip_scripts[0].end",
        "transitions[0].type",
    ]
    assert error.problems[1] == Problem("scenes[0].description", "must not be empty")
    assert error.field == "plan" and error.problem.startswith("has 5 problems:\n")
    assert "  transitions[0].type: must be one of 'cut', 'crossfade' or 'fade'" in str(error)


def test_a_single_problem_is_reported_as_it_is() -> None:
    plan = _plan()
    plan["scenes"][2]["description"] = ""
    with pytest.raises(InvalidInput) as caught:
        parse_plan(json.dumps(plan))
    assert (caught.value.field, caught.value.problem) == ("scenes[2].description", "must not be empty")
    assert caught.value.problems == [Problem("scenes[2].description", "must not be empty")]


def test_a_message_lists_fifty_problems_and_counts_the_rest() -> None:
    plan = _plan(scenes=[{"id": f"s{i}", "description": ""} for i in range(80)])
    with pytest.raises(InvalidInput) as caught:
        parse_plan(json.dumps(plan))
    assert len(caught.value.problems) == 80
    assert "has 80 problems" in caught.value.problem and "... and 30 more" in caught.value.problem


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"video_summary": "ring \u0007"}, "video_summary", "control character U+0007"),
        ({"video_summary": "w " * 10_001}, "video_summary", "is 20,002 characters long; at most 20,000"),
        ({"video_summary": "a" * 101}, "video_summary", "101-character word"),
        ({"characters": []}, "characters", "has none; at least one is needed"),
        ({"scenes": [{"id": f"s{i}", "description": "d"} for i in range(201)]}, "scenes", "has 201 entries"),
        ({"job_id": "42"}, "job_id", "must be a UUID like"),
        ({"style": {"mood": 7}}, "style.mood", "must be text"),
        ({"style": {"color_palette": ["red"]}}, "style.color_palette[0]", "'red' is not a hex colour"),
    ],
)
def test_field_problems_in_a_creators_words(change: dict[str, Any], field: str, words: str) -> None:
    problems = _problems(_plan(**change))
    assert words in problems[field], problems


@pytest.mark.parametrize(
    ("clip", "field", "words"),
    [
        ({"start": -1.0}, "clip_scripts[0].start", "must be at least 0"),
        ({"end": 1.0e9}, "clip_scripts[0].end", "must be at most 21,600"),
        ({"start": 4.0, "end": 1.5}, "clip_scripts[0].end", "ends at 1.5 s, before its start at 4 s"),
        ({"clip_index": -2}, "clip_scripts[0].clip_index", "must be at least 0"),
        ({"characters": ["runner\u0000"]}, "clip_scripts[0].characters[0]", "control character"),
    ],
)
def test_clip_times_are_finite_ordered_and_not_negative(clip: dict[str, Any], field: str, words: str) -> None:
    plan = _plan()
    plan["clip_scripts"][0].update(clip)
    assert words in _problems(plan)[field]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_json_nan_and_infinities_are_refused(literal: str) -> None:
    text = json.dumps(_plan()).replace('"end": 4.5', f'"end": {literal}', 1)
    assert _problems(text)["clip_scripts[0].end"] == "must be a finite number, not NaN or infinity"


@pytest.mark.parametrize("duration", [-0.5, 61.0])
def test_transition_durations_are_bounded(duration: float) -> None:
    plan = _plan(transitions=[{"from_clip": 0, "to_clip": 1, "type": "cut", "duration": duration}])
    assert "transitions[0].duration" in _problems(plan)


def test_features_beyond_the_known_ones_must_be_text() -> None:
    plan = _plan()
    plan["characters"][0]["features"] = {"hair": "silver", "scar": {"deep": [1]}, "tattoo": "a rose"}
    assert _problems(plan) == {"characters[0].features.scar": "must be text"}
    plan["characters"][0]["features"] = {"hair": "silver", "tattoo": "a rose"}
    features = parse_plan(json.dumps(plan)).characters[0].features
    assert features is not None and features.model_dump()["tattoo"] == "a rose"


def test_a_feature_name_with_a_control_character_is_refused() -> None:
    plan = _plan()
    plan["characters"][0]["features"] = {"ink\u0000": "a rose"}
    problem = _problems(plan)["characters[0].features.ink\u0000"]
    assert problem.startswith("feature name contains a control character U+0000")


def _nested(depth: int) -> str:
    return (
        json.dumps(_plan())
        .replace('"video_summary": ', '"video_summary": ' + "[" * depth, 1)
        .replace(', "characters"', "]" * depth + ', "characters"', 1)
    )


def test_deep_nesting_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert (caught.value.field, caught.value.problem) == (
        "plan",
        f"is nested more than {MAX_NESTING} levels deep; a plan needs five",
    )


def test_nesting_is_counted_exactly_and_brackets_in_text_do_not_count() -> None:
    assert "nested more than" in _problems(_nested(MAX_NESTING))["plan"]
    assert "nested" not in _problems(_nested(MAX_NESTING - 2)).get("video_summary", "nested")
    plan = _plan(video_summary='[[[[{{{{ "quoted" ' * 20 + "]")
    assert parse_plan(json.dumps(plan)).video_summary.startswith("[[[[{{{{")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is not valid JSON"),
        (b"[[[", "is not valid JSON"),
        (b'{"a": "unterminated [[[', "is not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        ('{"video_summary": "café"}'.encode("latin-1"), "is not UTF-8 text (byte 23 is not UTF-8)"),
    ],
)
def test_what_is_not_a_json_object_in_utf8_is_refused(data: bytes, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(data)
    assert caught.value.field == "plan" and words in caught.value.problem


def test_a_byte_order_mark_is_accepted() -> None:
    assert parse_plan(b"\xef\xbb\xbf" + (PLANS_DIR / "minimal.json").read_bytes()).scenes


def test_load_plan_reads_bounded(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_plan(Path("/dev/zero"))
    assert caught.value.field == "PLAN" and "not a regular file" in caught.value.problem
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (5 * 1024 * 1024 + 1))
    with pytest.raises(InvalidInput, match="at most 5 MB are allowed"):
        load_plan(huge)
