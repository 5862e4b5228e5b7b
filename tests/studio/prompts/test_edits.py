"""Prompt edits are stored apart from synthesis, survive a re-synthesis, and become job overrides."""

from __future__ import annotations

import pytest

from studio.errors import InvalidInput
from studio.plans.scene_plan import ScenePlan
from studio.prompts import synthesize
from studio.prompts.edits import (
    PromptChange,
    edit_reference,
    edits,
    get_plan,
    overrides,
    prompt_rows,
    reroll_seed,
    reroll_unlocked,
    reset_reference,
    save_plan,
)
from studio.samples import load_sample, sample_plans
from studio.services import Services


@pytest.fixture
def plan(services: Services) -> ScenePlan:
    plan = load_sample("minimal")
    save_plan(services, plan, "sample minimal")
    return plan


def test_samples_ship_with_the_studio() -> None:
    assert {"minimal", "music-video", "road-trip-32"} <= set(sample_plans())
    with pytest.raises(InvalidInput) as error:
        load_sample("../etc/passwd")
    assert error.value.field == "sample"


def test_a_saved_plan_is_read_back(services: Services, plan: ScenePlan) -> None:
    assert get_plan(services, str(plan.job_id)) == plan
    assert get_plan(services, "00000000-0000-4000-8000-00000000ffff") is None


def test_rows_start_as_synthesized(services: Services, plan: ScenePlan) -> None:
    rows = prompt_rows(services, plan)
    assert [r.ref for r in rows] == [p.ref for p in synthesize(plan)]
    assert all(not r.edited and r.prompt == r.synthesized_prompt for r in rows)
    assert overrides(services, plan) == {}


def test_an_edit_survives_a_change_of_style(services: Services, plan: ScenePlan) -> None:
    ref = prompt_rows(services, plan)[0].ref
    edit_reference(services, plan, ref, PromptChange(prompt="a lone singer, charcoal sketch"))
    restyled = plan.model_copy(
        update={"style": plan.style.model_copy(update={"visual_style": "watercolour"})}
    )
    save_plan(services, restyled, "edited")
    rows = {r.ref: r for r in prompt_rows(services, restyled)}
    assert rows[ref].prompt == "a lone singer, charcoal sketch"
    assert rows[ref].edited and "watercolour" in rows[ref].synthesized_prompt
    others = [r for r in rows.values() if r.ref != ref]
    assert all("watercolour" in r.prompt and not r.edited for r in others)
    assert overrides(services, restyled)[ref].prompt == "a lone singer, charcoal sketch"


def test_setting_the_synthesized_value_back_clears_the_edit(services: Services, plan: ScenePlan) -> None:
    row = prompt_rows(services, plan)[0]
    edit_reference(services, plan, row.ref, PromptChange(prompt="something else"))
    edit_reference(services, plan, row.ref, PromptChange(prompt=row.synthesized_prompt))
    assert edits(services, str(plan.job_id)) == {}


def test_reset_drops_every_edit_of_the_row(services: Services, plan: ScenePlan) -> None:
    row = prompt_rows(services, plan)[0]
    edit_reference(services, plan, row.ref, PromptChange(prompt="x y z", negative_prompt="fog", seed=7))
    back = reset_reference(services, plan, row.ref)
    assert (back.prompt, back.negative_prompt, back.seed) == (
        row.synthesized_prompt,
        row.synthesized_negative_prompt,
        row.synthesized_seed,
    )
    assert not back.edited


def test_bad_edits_are_refused_and_nothing_is_written(services: Services, plan: ScenePlan) -> None:
    ref = prompt_rows(services, plan)[0].ref
    with pytest.raises(InvalidInput) as empty:
        edit_reference(services, plan, ref, PromptChange(prompt="   "))
    assert empty.value.field == f"{ref}.prompt"
    with pytest.raises(InvalidInput) as seed:
        edit_reference(services, plan, ref, PromptChange(seed=2**32))
    assert seed.value.field == f"{ref}.seed"
    with pytest.raises(InvalidInput) as unknown:
        edit_reference(services, plan, "scene_nowhere", PromptChange(prompt="x"))
    assert unknown.value.field == "ref"
    for change, field, words in (
        (PromptChange(prompt="a\u0000street"), "prompt", "control character U+0000"),
        (PromptChange(prompt="a" * 400_000), "prompt", "is 400,000 characters long"),
        (PromptChange(negative_prompt="blur" * 40), "negative_prompt", "160-character word"),
    ):
        with pytest.raises(InvalidInput) as hostile:
            edit_reference(services, plan, ref, change)
        assert hostile.value.field == f"{ref}.{field}" and words in hostile.value.problem
    assert edits(services, str(plan.job_id)) == {}


def test_reroll_keeps_locked_seeds(services: Services, plan: ScenePlan) -> None:
    locked, free = (r.ref for r in prompt_rows(services, plan)[:2])
    before = {r.ref: r.seed for r in prompt_rows(services, plan)}
    edit_reference(services, plan, locked, PromptChange(seed_locked=True))
    rerolled = reroll_unlocked(services, plan)
    assert locked not in rerolled and free in rerolled
    after = {r.ref: r.seed for r in prompt_rows(services, plan)}
    assert after[locked] == before[locked] and after[free] == rerolled[free]
    assert overrides(services, plan)[free].seed == rerolled[free]
    with pytest.raises(InvalidInput, match="locked"):
        reroll_seed(services, plan, locked)


def test_long_prompts_are_flagged_for_clip(services: Services, plan: ScenePlan) -> None:
    ref = prompt_rows(services, plan)[0].ref
    row = edit_reference(services, plan, ref, PromptChange(prompt=" ".join(["neon"] * 90)))
    assert row.token_count == 90 and row.truncated_by_clip
