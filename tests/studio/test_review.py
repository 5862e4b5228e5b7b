"""The review gate: decisions on versions, the audit trail, regeneration of rejected references, export."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from studio import jobs, prompt_edits
from studio.characters.songs import apply_template
from studio.errors import InvalidInput, NotFound
from studio.keys import REFERENCE_BUCKET, reference_version_key
from studio.plan import ScenePlan, load_plan
from studio.planning import ReferenceOverride
from studio.prompts import count_tokens
from studio.prompts.tokens import CLIP_USABLE_TOKENS, clip_visible
from studio.review import (
    NotApproved,
    approve,
    export_manifest,
    prompt_note,
    regenerate_rejected,
    reject,
    review_board,
    with_note,
)
from studio.services import Services
from studio.work.runner import drain
from tests.conftest import PLANS_DIR
from tests.fakes import ScriptedGenerator, fatal

MINIMAL = PLANS_DIR / "minimal.json"
SCENE = "scene_rooftop"
CHARACTER = "character_singer"


@pytest.fixture
def scripted(services: Services) -> Iterator[Services]:
    yield dataclasses.replace(services, generator=ScriptedGenerator())


def run(services: Services, plan: ScenePlan, **submit: object) -> str:
    job_id = jobs.submit(services, plan, **submit)  # type: ignore[arg-type]
    asyncio.run(drain(services))
    return job_id


@pytest.fixture
def job_id(scripted: Services) -> str:
    return run(scripted, load_plan(MINIMAL))


def test_new_references_are_pending_and_export_is_refused(scripted: Services, job_id: str) -> None:
    board = review_board(scripted, job_id)
    assert [(r.ref, r.status, r.version) for r in board.references] == [
        (SCENE, "pending", 1),
        (CHARACTER, "pending", 1),
    ]
    assert board.pending == [SCENE, CHARACTER]
    with pytest.raises(NotApproved) as refused:
        export_manifest(scripted, job_id)
    assert refused.value.refs == {SCENE: "pending", CHARACTER: "pending"}
    assert SCENE in str(refused.value)


def test_export_refused_until_every_reference_is_approved(scripted: Services, job_id: str) -> None:
    approve(scripted, job_id, SCENE, reviewer="alice")
    with pytest.raises(NotApproved) as refused:
        export_manifest(scripted, job_id)
    assert refused.value.refs == {CHARACTER: "pending"}
    approve(scripted, job_id, CHARACTER, reviewer="bob")
    manifest = export_manifest(scripted, job_id)
    assert manifest.job_id == job_id and manifest.character is None
    scene, character = manifest.references
    assert (scene.ref, scene.kind, scene.subject_id, scene.version) == (SCENE, "scene", "rooftop", 1)
    assert (character.approved_by, character.kind) == ("bob", "character")
    assert scene.storage_key == f"{job_id}/{SCENE}.png"
    assert scripted.storage.get(REFERENCE_BUCKET, scene.storage_key).startswith(b"\x89PNG")
    assert urlparse(scene.url).scheme and scene.url != manifest.references[1].url
    assert scene.parameters["seed"] == scene.seed and scene.model_version == "scripted-1"
    assert scene.prompt and scene.negative_prompt


def test_a_rejection_needs_a_reason(scripted: Services, job_id: str) -> None:
    for reason in ("", "   \n "):
        with pytest.raises(InvalidInput, match="reason"):
            reject(scripted, job_id, SCENE, reason)
    assert review_board(scripted, job_id).reference(SCENE).versions[0].decisions == []


def test_reasons_and_reviewers_that_cannot_be_stored_are_refused(scripted: Services, job_id: str) -> None:
    with pytest.raises(InvalidInput, match="reason: contains a control character U\\+0007"):
        reject(scripted, job_id, SCENE, "too dark\u0007")
    with pytest.raises(InvalidInput, match="reviewer: contains a control character U\\+0000"):
        approve(scripted, job_id, SCENE, reviewer="ann\u0000")
    with pytest.raises(InvalidInput, match="reason: is 501 characters long"):
        reject(scripted, job_id, SCENE, "x " * 250 + "y")
    assert review_board(scripted, job_id).reference(SCENE).versions[0].decisions == []


def test_unknown_jobs_and_references_are_refused(scripted: Services, job_id: str) -> None:
    with pytest.raises(NotFound, match="nope"):
        approve(scripted, "nope", SCENE)
    with pytest.raises(InvalidInput, match="scene_moon is not a reference"):
        approve(scripted, job_id, "scene_moon")
    with pytest.raises(InvalidInput, match="'rooftop' is not scene_<id>"):
        approve(scripted, job_id, "rooftop")
    with pytest.raises(InvalidInput, match="version"):
        approve(scripted, job_id, SCENE, version=7)
    with pytest.raises(InvalidInput, match="reviewer"):
        approve(scripted, job_id, SCENE, reviewer="  ")
    with pytest.raises(NotFound):
        export_manifest(scripted, "nope")


def test_a_reference_without_a_stored_image_cannot_be_reviewed(services: Services) -> None:
    failing = dataclasses.replace(services, generator=ScriptedGenerator(script={CHARACTER: [fatal()]}))
    job_id = run(failing, load_plan(MINIMAL))
    with pytest.raises(InvalidInput, match=f"{CHARACTER} has no stored image"):
        approve(failing, job_id, CHARACTER)
    approve(failing, job_id, SCENE)
    with pytest.raises(NotApproved) as refused:
        export_manifest(failing, job_id)
    assert refused.value.refs == {CHARACTER: "missing"}


def test_reviewer_defaults_to_the_user(
    scripted: Services, job_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "carol")
    assert approve(scripted, job_id, SCENE).reviewer == "carol"
    monkeypatch.delenv("USER")
    assert approve(scripted, job_id, SCENE).reviewer == "anonymous"


def test_audit_trail_kept_across_regenerations(scripted: Services, job_id: str) -> None:
    generator = scripted.generator
    assert isinstance(generator, ScriptedGenerator)
    approve(scripted, job_id, CHARACTER, reviewer="alice")
    approve(scripted, job_id, SCENE, reviewer="alice")
    reject(scripted, job_id, SCENE, "Too dark; the skyline is missing.", reviewer="bob")
    assert review_board(scripted, job_id).unapproved == {SCENE: "rejected"}
    first = review_board(scripted, job_id).reference(SCENE).versions[0]

    calls = len(generator.history)
    assert regenerate_rejected(scripted, job_id, SCENE) == job_id
    asyncio.run(drain(scripted))
    assert len(generator.history) == calls + 1, "only the rejected reference is generated again"

    board = review_board(scripted, job_id)
    scene = board.reference(SCENE)
    assert (scene.status, scene.version) == ("pending", 2)
    assert board.reference(CHARACTER).status == "approved"
    second = scene.versions[1]
    assert "too dark , the skyline is missing" in clip_visible(second.prompt), "where CLIP reads it"
    assert second.seed != first.seed
    assert second.note == "rejected v1: Too dark; the skyline is missing."
    assert scene.versions[0].storage_key == reference_version_key(job_id, SCENE, 1)
    assert scripted.storage.exists(REFERENCE_BUCKET, scene.versions[0].storage_key)

    approve(scripted, job_id, SCENE, reviewer="carol")
    manifest = export_manifest(scripted, job_id)
    exported = manifest.references[0]
    assert (exported.ref, exported.version, exported.seed) == (SCENE, 2, second.seed)
    assert exported.storage_key == f"{job_id}/{SCENE}.png" and exported.approved_by == "carol"
    trail = review_board(scripted, job_id).reference(SCENE).versions
    assert [(d.decision, d.reviewer) for d in trail[0].decisions] == [
        ("approved", "alice"),
        ("rejected", "bob"),
    ]
    assert [d.decision for d in trail[1].decisions] == ["approved"]


def test_only_a_rejected_reference_is_regenerated(scripted: Services, job_id: str) -> None:
    with pytest.raises(InvalidInput, match="pending"):
        regenerate_rejected(scripted, job_id, SCENE)
    approve(scripted, job_id, SCENE)
    with pytest.raises(InvalidInput, match="approved"):
        regenerate_rejected(scripted, job_id, SCENE)


def test_regeneration_keeps_the_jobs_other_overrides_and_takes_a_note(scripted: Services) -> None:
    plan = load_plan(MINIMAL)
    job_id = run(scripted, plan, overrides={CHARACTER: ReferenceOverride(seed=11)})
    reject(scripted, job_id, SCENE, "too dark")
    regenerate_rejected(scripted, job_id, SCENE, note="bright evening light", seed=42)
    overrides = jobs.job_overrides(scripted, job_id)
    assert overrides[CHARACTER].seed == 11
    assert overrides[SCENE].seed == 42 and overrides[SCENE].prompt is not None
    assert overrides[SCENE].prompt.endswith(", bright evening light")
    assert overrides[SCENE].note == "rejected v1: too dark"


def test_the_note_stays_where_clip_reads_it() -> None:
    long_prompt = ", ".join(f"clause number {i} with several words" for i in range(20))
    noted = with_note(long_prompt, "brighter sky")
    assert noted.startswith("clause number 0 with several words, brighter sky, clause number 1")
    assert "brighter sky" in noted and count_tokens(noted.split(", brighter sky")[0]) < CLIP_USABLE_TOKENS
    assert with_note("a rooftop, dusk", "more lights") == "a rooftop, dusk, more lights"
    assert prompt_note("Too dark!  Face hidden.\nWrong: jacket") == "too dark, face hidden, wrong, jacket"


def test_export_carries_the_songs_resolved_character(scripted: Services) -> None:
    apply_template(scripted, "song-1", "character-2")
    job_id = run(scripted, load_plan(MINIMAL), song_id="song-1")
    approve(scripted, job_id, SCENE)
    approve(scripted, job_id, CHARACTER)
    manifest = export_manifest(scripted, job_id)
    assert manifest.character is not None and manifest.character.song_id == "song-1"
    assert manifest.character.primary is not None
    assert manifest.character.primary.source == "template pose-a"
    document = manifest.model_dump(mode="json")
    assert set(document) == {"job_id", "references", "character"}


def test_coverage_matrix_pairs_scenes_and_characters(scripted: Services) -> None:
    plan = load_plan(PLANS_DIR / "music-video.json")
    job_id = run(scripted, plan)
    approve(scripted, job_id, "scene_diner")
    approve(scripted, job_id, "character_runner")
    reject(scripted, job_id, "character_stranger", "wrong coat")
    cells = {(c.scene_id, c.character_id): c for c in review_board(scripted, job_id).coverage}
    assert len(cells) == 4 * 2
    assert cells[("diner", "runner")].status == "approved"
    assert cells[("diner", "runner")].clips == [1]
    assert cells[("diner", "stranger")].status == "rejected"
    assert cells[("alley", "runner")].status == "pending" and cells[("alley", "runner")].clips == [0]
    assert cells[("subway", "runner")].clips == []


def test_a_regenerated_version_survives_a_later_generate_again(scripted: Services, job_id: str) -> None:
    generator = scripted.generator
    assert isinstance(generator, ScriptedGenerator)
    reject(scripted, job_id, SCENE, "more string lights")
    regenerate_rejected(scripted, job_id, SCENE)
    asyncio.run(drain(scripted))
    calls = len(generator.history)
    plan = load_plan(MINIMAL)
    run(scripted, plan, overrides=prompt_edits.overrides(scripted, plan))
    assert len(generator.history) == calls, "the creator's edits now reproduce v2: nothing is generated"
    assert review_board(scripted, job_id).reference(SCENE).version == 2


def test_a_locked_seed_is_kept_on_regeneration(scripted: Services, job_id: str) -> None:
    plan = load_plan(MINIMAL)
    prompt_edits.edit_reference(scripted, plan, SCENE, prompt_edits.PromptChange(seed_locked=True))
    first = review_board(scripted, job_id).reference(SCENE).versions[0]
    reject(scripted, job_id, SCENE, "more string lights")
    regenerate_rejected(scripted, job_id, SCENE)
    assert jobs.job_overrides(scripted, job_id)[SCENE].seed == first.seed
