"""Regenerating a rejected reference: the reason stays in the audit trail, the change goes where the reviewer
says, the preview is what is submitted, and the compare view's word diff."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from studio.errors import InvalidInput
from studio.plans.scene_plan import load_plan
from studio.prompts import count_tokens
from studio.prompts import edits as prompt_edits
from studio.prompts.tokens import CLIP_USABLE_TOKENS, clip_visible
from studio.references import jobs
from studio.references.planning import ReferenceOverride
from studio.review.export import export_manifest
from studio.review.gate import approve, reject, review_board
from studio.review.regeneration import (
    RegenerationRequest,
    preview_regeneration,
    prompt_words,
    regenerate_rejected,
    version_diff,
    with_negative,
    word_diff,
)
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET, reference_version_key
from studio.work.runner import drain
from tests.fakes import ScriptedGenerator
from tests.studio.review.test_gate import CHARACTER, MINIMAL, SCENE, run


@pytest.fixture
def scripted(services: Services) -> Iterator[Services]:
    yield dataclasses.replace(services, generator=ScriptedGenerator())


@pytest.fixture
def job_id(scripted: Services) -> str:
    return run(scripted, load_plan(MINIMAL))


def test_the_reason_stays_in_the_audit_trail_and_the_change_goes_into_the_prompt(
    scripted: Services, job_id: str
) -> None:
    generator = scripted.generator
    assert isinstance(generator, ScriptedGenerator)
    approve(scripted, job_id, CHARACTER, reviewer="alice")
    approve(scripted, job_id, SCENE, reviewer="alice")
    reject(scripted, job_id, SCENE, "Too dark; wrong coat colour.", reviewer="bob")
    first = review_board(scripted, job_id).reference(SCENE).versions[0]

    calls = len(generator.history)
    assert (
        regenerate_rejected(scripted, job_id, SCENE, RegenerationRequest("Bright evening light. Red coat"))
        == job_id
    )
    asyncio.run(drain(scripted))
    assert len(generator.history) == calls + 1, "only the rejected reference is generated again"

    board = review_board(scripted, job_id)
    scene = board.reference(SCENE)
    assert (scene.status, scene.version) == ("pending", 2)
    assert board.reference(CHARACTER).status == "approved"
    second = scene.versions[1]
    assert "bright evening light , red coat" in clip_visible(second.prompt), "where CLIP reads it"
    assert "too dark" not in second.prompt.lower() and "coat colour" not in second.prompt, "no reason words"
    assert second.negative_prompt == first.negative_prompt
    assert second.seed != first.seed
    assert second.note == (
        "rejected v1: Too dark; wrong coat colour. · added to the prompt: bright evening light, red coat"
    )
    assert scene.versions[0].storage_key == reference_version_key(job_id, SCENE, 1)
    assert scripted.storage.exists(REFERENCE_BUCKET, scene.versions[0].storage_key)

    approve(scripted, job_id, SCENE, reviewer="carol")
    exported = export_manifest(scripted, job_id).references[0]
    assert (exported.ref, exported.version, exported.seed) == (SCENE, 2, second.seed)
    trail = review_board(scripted, job_id).reference(SCENE).versions
    assert [(d.decision, d.reviewer, d.reason) for d in trail[0].decisions] == [
        ("approved", "alice", None),
        ("rejected", "bob", "Too dark; wrong coat colour."),
    ]
    assert [d.decision for d in trail[1].decisions] == ["approved"]


def test_a_change_into_the_negative_prompt_leaves_the_prompt_alone(scripted: Services, job_id: str) -> None:
    reject(scripted, job_id, SCENE, "too dark")
    request = RegenerationRequest("underexposed, murky", "negative_prompt")
    preview = preview_regeneration(scripted, job_id, SCENE, request)
    regenerate_rejected(scripted, job_id, SCENE, request)
    asyncio.run(drain(scripted))
    first, second = review_board(scripted, job_id).reference(SCENE).versions
    assert second.prompt == first.prompt
    assert second.negative_prompt == f"{first.negative_prompt}, underexposed, murky"
    assert (second.prompt, second.negative_prompt, second.seed, second.note) == (
        preview.prompt,
        preview.negative_prompt,
        preview.seed,
        preview.note,
    ), "the preview is what was generated"
    assert second.note == "rejected v1: too dark · added to the negative prompt: underexposed, murky"
    edit = prompt_edits.edits(scripted, job_id)[SCENE]
    assert edit.negative_prompt == second.negative_prompt and edit.seed == second.seed


def test_the_preview_counts_clip_tokens_and_writes_nothing(scripted: Services, job_id: str) -> None:
    reject(scripted, job_id, SCENE, "too dark")
    overrides = jobs.job_overrides(scripted, job_id)
    preview = preview_regeneration(scripted, job_id, SCENE, RegenerationRequest("neon signs"))
    assert preview.prompt_tokens == count_tokens(preview.prompt)
    assert preview.negative_tokens == count_tokens(preview.negative_prompt)
    assert preview.token_limit == CLIP_USABLE_TOKENS == 75
    assert preview.over_limit == [] and preview.reason == "too dark" and preview.from_version == 1
    assert jobs.job_overrides(scripted, job_id) == overrides
    assert review_board(scripted, job_id).reference(SCENE).version == 1
    long_change = ", ".join(f"detail {i}" for i in range(25))
    assert preview_regeneration(scripted, job_id, SCENE, RegenerationRequest(long_change)).over_limit == [
        "prompt"
    ]
    with pytest.raises(InvalidInput, match="target"):
        preview_regeneration(scripted, job_id, SCENE, RegenerationRequest("x", "positive"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="change"):
        preview_regeneration(scripted, job_id, SCENE, RegenerationRequest("x" * 301))


def test_no_change_draws_a_new_seed_only(scripted: Services, job_id: str) -> None:
    reject(scripted, job_id, SCENE, "hands look wrong")
    latest = review_board(scripted, job_id).reference(SCENE).versions[-1]
    preview = preview_regeneration(scripted, job_id, SCENE)
    assert (preview.prompt, preview.negative_prompt) == (latest.prompt, latest.negative_prompt)
    assert preview.seed != latest.seed and not preview.seed_locked
    assert preview.note == "rejected v1: hands look wrong"


def test_a_locked_seed_is_kept_and_then_something_must_change(scripted: Services, job_id: str) -> None:
    plan = load_plan(MINIMAL)
    prompt_edits.edit_reference(scripted, plan, SCENE, prompt_edits.PromptChange(seed_locked=True))
    first = review_board(scripted, job_id).reference(SCENE).versions[0]
    reject(scripted, job_id, SCENE, "more string lights")
    with pytest.raises(InvalidInput, match="change: nothing would change"):
        regenerate_rejected(scripted, job_id, SCENE)
    preview = preview_regeneration(scripted, job_id, SCENE, RegenerationRequest("more string lights"))
    assert preview.seed_locked and preview.seed == first.seed
    regenerate_rejected(scripted, job_id, SCENE, RegenerationRequest("more string lights"))
    assert jobs.job_overrides(scripted, job_id)[SCENE].seed == first.seed
    overrides = jobs.job_overrides(scripted, job_id)[SCENE]
    assert overrides.prompt is not None and "no people, more string lights, at dusk" in overrides.prompt


def test_only_a_rejected_reference_is_regenerated(scripted: Services, job_id: str) -> None:
    with pytest.raises(InvalidInput, match="pending"):
        regenerate_rejected(scripted, job_id, SCENE, RegenerationRequest("more light"))
    approve(scripted, job_id, SCENE)
    with pytest.raises(InvalidInput, match="approved"):
        preview_regeneration(scripted, job_id, SCENE, RegenerationRequest("more light"))


def test_regeneration_keeps_the_jobs_other_overrides(scripted: Services) -> None:
    job_id = run(scripted, load_plan(MINIMAL), overrides={CHARACTER: ReferenceOverride(seed=11)})
    reject(scripted, job_id, SCENE, "too dark")
    regenerate_rejected(scripted, job_id, SCENE, RegenerationRequest("bright evening light", seed=42))
    overrides = jobs.job_overrides(scripted, job_id)
    assert overrides[CHARACTER].seed == 11
    assert overrides[SCENE].seed == 42 and overrides[SCENE].prompt is not None
    assert "no people, bright evening light, " in overrides[SCENE].prompt, "evening: the plan's dusk goes"
    assert "dusk" not in overrides[SCENE].prompt


def test_a_regenerated_version_survives_a_later_generate_again(scripted: Services, job_id: str) -> None:
    generator = scripted.generator
    assert isinstance(generator, ScriptedGenerator)
    reject(scripted, job_id, SCENE, "too plain")
    regenerate_rejected(scripted, job_id, SCENE, RegenerationRequest("more string lights", "negative_prompt"))
    asyncio.run(drain(scripted))
    calls = len(generator.history)
    plan = load_plan(MINIMAL)
    run(scripted, plan, overrides=prompt_edits.overrides(scripted, plan))
    assert len(generator.history) == calls, "the creator's edits now reproduce v2: nothing is generated"
    assert review_board(scripted, job_id).reference(SCENE).version == 2


def test_the_change_stays_where_clip_reads_it() -> None:
    long_prompt = ", ".join(f"clause number {i} with several words" for i in range(20))
    assert with_negative("blurry, ", "dark") == "blurry, dark"
    assert with_negative("", "dark") == "dark"
    assert with_negative(long_prompt, "dark").startswith("dark, clause number 0")
    assert prompt_words("Too dark!  Face hidden.\nWrong: jacket") == "too dark, face hidden, wrong, jacket"


def test_the_prompt_is_rebuilt_from_the_scene_and_the_change_within_clips_tokens(
    scripted: Services,
) -> None:
    plan = load_plan(MINIMAL)
    scene = plan.scenes[0].model_copy(
        update={"description": "A neon diner with chrome stools and a long counter", "time_of_day": "dawn"}
    )
    style = plan.style.model_copy(update={"lighting": "soft natural light, gentle haze"})
    job_id = run(scripted, plan.model_copy(update={"scenes": [scene], "style": style}))
    reject(scripted, job_id, SCENE, "Chrome stools. Night, heavy rain")
    first = review_board(scripted, job_id).reference(SCENE).versions[0]
    assert "at dawn, soft pink first light" in first.prompt
    preview = preview_regeneration(
        scripted, job_id, SCENE, RegenerationRequest("Chrome stools. Night, heavy rain")
    )
    assert preview.prompt.startswith(
        "wide establishing shot of a neon diner with chrome stools and a long counter, no people, "
        "chrome stools, night, heavy rain, "
    ), "the change right after the subject, not in the middle of the old prompt"
    assert "dawn" not in preview.prompt and "pink first light" not in preview.prompt, "night replaces dawn"
    assert preview.prompt_tokens <= CLIP_USABLE_TOKENS and not preview.over_limit
    lit = preview_regeneration(scripted, job_id, SCENE, RegenerationRequest("warm lamplight"))
    assert "soft natural light" not in lit.prompt and "at dawn" in lit.prompt, (
        "light words replace the lighting"
    )


def test_the_compare_view_shows_what_changed_between_versions(scripted: Services, job_id: str) -> None:
    reject(scripted, job_id, SCENE, "too dark")
    regenerate_rejected(scripted, job_id, SCENE, RegenerationRequest("warm light", "negative_prompt"))
    asyncio.run(drain(scripted))
    scene = review_board(scripted, job_id).reference(SCENE)
    diff = version_diff(scene, 1, 2)
    assert (diff.older, diff.newer, diff.seed_changed) == (1, 2, True)
    assert (diff.older_seed, diff.newer_seed) == (scene.versions[0].seed, scene.versions[1].seed)
    assert [w.change for w in diff.prompt] == ["same"], "the prompt did not change"
    assert [(w.text, w.change) for w in diff.negative_prompt if w.change != "same"] == [
        (", warm light", "added")
    ]
    assert diff.note is not None and "too dark" in diff.note and not diff.unchanged
    assert version_diff(scene, 2, 2).unchanged
    with pytest.raises(InvalidInput, match="no version 3"):
        version_diff(scene, 1, 3)


def test_word_diff_marks_removed_and_added_words() -> None:
    diff = word_diff("a man, short hair, grey coat", "a man, buzz cut, red coat")
    assert [(w.text, w.change) for w in diff] == [
        ("a man ,", "same"),
        ("short hair", "removed"),
        ("buzz cut", "added"),
        (",", "same"),
        ("grey", "removed"),
        ("red", "added"),
        ("coat", "same"),
    ]
    assert word_diff("", "") == []
