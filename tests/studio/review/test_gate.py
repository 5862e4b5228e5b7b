"""The review gate: decisions on versions, the audit trail, regeneration of rejected references, export."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from sqlalchemy import event

from studio.characters.songs import apply_template
from studio.characters.templates import template_image
from studio.errors import InvalidInput, NotFound
from studio.plans.scene_plan import ScenePlan, load_plan
from studio.references import jobs
from studio.references.planning import ReferenceOverride
from studio.review.export import NotApproved, export_manifest
from studio.review.gate import approve, approve_many, board_fingerprint, reject, review_board
from studio.services import Services
from studio.storage.intact import DamagedObject
from studio.storage.keys import CHARACTER_BUCKET, REFERENCE_BUCKET
from studio.work.runner import drain
from tests.conftest import PLANS_DIR
from tests.fakes import ScriptedGenerator, fatal
from tests.studio.characters import samples

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
    assert set(document) == {"job_id", "song_id", "references", "character", "exported_by"}
    assert document["song_id"] == "song-1"
    assert {(r["provider"], r["preview"]) for r in document["references"]} == {("scripted", False)}


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


def test_failed_references_carry_their_full_error_and_filter_as_failed(services: Services) -> None:
    failing = dataclasses.replace(services, generator=ScriptedGenerator(script={CHARACTER: [fatal()]}))
    job_id = run(failing, load_plan(MINIMAL))
    board = review_board(failing, job_id)
    character = board.reference(CHARACTER)
    assert (character.status, character.generation, character.failed) == ("missing", "failed", True)
    assert character.error is not None and "scripted invalid_input" in character.error
    assert (character.failure_reason, character.attempts) == ("invalid_input", 1)
    assert board.reference(SCENE).error is None and not board.reference(SCENE).failed
    assert [r.ref for r in board.matching("failed")] == [CHARACTER]
    assert [r.ref for r in board.matching("pending")] == [SCENE]
    assert [r.ref for r in board.matching("all")] == [SCENE, CHARACTER]
    assert board.counts() == {"all": 2, "pending": 1, "rejected": 0, "failed": 1, "approved": 0}
    with pytest.raises(InvalidInput, match="filter"):
        board.matching("stale")  # type: ignore[arg-type]


def test_the_cursor_steps_within_a_filter_and_wraps(scripted: Services) -> None:
    job_id = run(scripted, load_plan(PLANS_DIR / "music-video.json"))
    board = review_board(scripted, job_id)
    refs = [r.ref for r in board.references]
    assert board.step(refs[0], 1) == refs[1]
    assert board.step(refs[0], -1) == refs[-1], "previous from the first wraps to the last"
    assert board.step(refs[-1], 1) == refs[0]
    reject(scripted, job_id, refs[1], "too dark")
    board = review_board(scripted, job_id)
    assert board.step(refs[0], 1, "pending") == refs[2], "the rejected one is skipped"
    assert board.step(refs[1], 1, "pending") == refs[2], "from outside the filter: the next one inside it"
    assert board.step("scene_gone", 1, "pending") == refs[0]
    assert board.next_pending(refs[2]) == refs[3]
    for ref in refs[3:]:
        approve(scripted, job_id, ref)
    assert review_board(scripted, job_id).next_pending(refs[2]) == refs[0]
    approve(scripted, job_id, refs[0])
    assert review_board(scripted, job_id).next_pending(refs[2]) == refs[2], "none left: stay"


def test_approve_selected_records_one_decision_each(scripted: Services) -> None:
    job_id = run(scripted, load_plan(PLANS_DIR / "music-video.json"))
    refs = [r.ref for r in review_board(scripted, job_id).references]
    decisions = approve_many(scripted, job_id, refs[:4], reviewer="dana")
    assert [(d.ref, d.version, d.decision, d.reviewer) for d in decisions] == [
        (ref, 1, "approved", "dana") for ref in refs[:4]
    ]
    assert review_board(scripted, job_id).pending == refs[4:]
    assert approve_many(scripted, job_id, []) == []


def test_approve_selected_writes_nothing_when_one_cannot_be_approved(services: Services) -> None:
    failing = dataclasses.replace(services, generator=ScriptedGenerator(script={CHARACTER: [fatal()]}))
    job_id = run(failing, load_plan(MINIMAL))
    with pytest.raises(InvalidInput, match=f"{CHARACTER} has no stored image"):
        approve_many(failing, job_id, [SCENE, CHARACTER])
    with pytest.raises(InvalidInput, match="scene_moon is not a reference"):
        approve_many(failing, job_id, [SCENE, "scene_moon"])
    assert review_board(failing, job_id).pending == [SCENE], "nothing was approved"


def _decisions(services: Services, job_id: str) -> int:
    return len(services.records.reviews.decisions(job_id))


def test_a_reference_whose_image_is_missing_or_changed_cannot_be_reviewed(
    scripted: Services, job_id: str
) -> None:
    key = f"{job_id}/{SCENE}.png"
    scripted.storage.delete(REFERENCE_BUCKET, [key])
    for review in (
        lambda: approve(scripted, job_id, SCENE),
        lambda: reject(scripted, job_id, SCENE, "too dark"),
        lambda: approve_many(scripted, job_id, [CHARACTER, SCENE]),
    ):
        with pytest.raises(DamagedObject) as refused:
            review()
        assert f"the image of {SCENE} (version 1) ({REFERENCE_BUCKET}/{key}) is missing" in refused.value.what
        assert "generate the job again" in refused.value.fix
    scripted.storage.put(REFERENCE_BUCKET, key, b"not the image on record", "image/png")
    with pytest.raises(DamagedObject, match="has changed since it was stored"):
        approve(scripted, job_id, SCENE)
    assert _decisions(scripted, job_id) == 0, "nothing was written"
    approve(scripted, job_id, CHARACTER)


def test_an_image_stored_before_checks_were_recorded_is_reviewed_while_it_exists(
    scripted: Services, job_id: str
) -> None:
    scripted.records.objects.forget(REFERENCE_BUCKET, job_id)
    scripted.storage.put(REFERENCE_BUCKET, f"{job_id}/{SCENE}.png", b"unverifiable", "image/png")
    assert approve(scripted, job_id, SCENE).decision == "approved"


def test_export_refuses_an_approved_image_that_changed_since(scripted: Services) -> None:
    apply_template(scripted, "song-1", "character-2")
    job_id = run(scripted, load_plan(MINIMAL), song_id="song-1")
    approve_many(scripted, job_id, [SCENE, CHARACTER])
    key = f"{job_id}/{CHARACTER}.png"
    original = scripted.storage.get(REFERENCE_BUCKET, key)
    scripted.storage.put(REFERENCE_BUCKET, key, original[:-1] + b"\0", "image/png")
    with pytest.raises(DamagedObject, match=f"the image of {CHARACTER} .* has changed since it was stored"):
        export_manifest(scripted, job_id)
    scripted.storage.put(REFERENCE_BUCKET, key, original, "image/png")
    pose_b = "songs/song-1/character_pose_b.png"
    scripted.storage.put(CHARACTER_BUCKET, pose_b, samples.png(), "image/png")
    with pytest.raises(DamagedObject, match="the song's pose-b image") as refused:
        export_manifest(scripted, job_id)
    assert "upload the character image again" in refused.value.fix
    scripted.storage.put(CHARACTER_BUCKET, pose_b, template_image("character-2", "pose-b"), "image/png")
    assert len(export_manifest(scripted, job_id).references) == 2


def _plan_of(size: int) -> ScenePlan:
    plan = load_plan(MINIMAL)
    scenes = [plan.scenes[0].model_copy(update={"id": f"s{i}"}) for i in range(size - 10)]
    characters = [plan.characters[0].model_copy(update={"id": f"c{i}"}) for i in range(10)]
    return plan.model_copy(update={"job_id": uuid.uuid4(), "scenes": scenes, "characters": characters})


def _statements(services: Services, job_id: str) -> int:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(services.records.engine, "before_cursor_execute", count)
    try:
        board = review_board(services, job_id)
    finally:
        event.remove(services.records.engine, "before_cursor_execute", count)
    assert all(r.version == 1 for r in board.references)
    return len(statements)


def test_the_board_reads_200_references_in_as_many_queries_as_2(scripted: Services) -> None:
    small = run(scripted, load_plan(MINIMAL))
    large = run(scripted, _plan_of(200), concurrency=8)
    assert len(review_board(scripted, large).references) == 200
    assert _statements(scripted, large) == _statements(scripted, small)


def test_the_fingerprint_changes_with_a_new_version_or_decision_only(scripted: Services, job_id: str) -> None:
    first = board_fingerprint(scripted, job_id)
    generation = board_fingerprint(scripted, job_id, decisions=False)
    assert board_fingerprint(scripted, job_id) == first
    reject(scripted, job_id, SCENE, "too dark")
    rejected = board_fingerprint(scripted, job_id)
    assert rejected != first
    assert board_fingerprint(scripted, job_id, decisions=False) == generation, "decisions left out"
    jobs.submit(scripted, load_plan(MINIMAL), overrides={SCENE: ReferenceOverride(seed=5)})
    queued = board_fingerprint(scripted, job_id)
    assert queued != rejected, "a queued regeneration shows on the board"
    behind_lightbox = board_fingerprint(scripted, job_id, decisions=False)
    assert behind_lightbox != generation, "the lightbox says a new version is on its way"
    asyncio.run(drain(scripted))
    assert board_fingerprint(scripted, job_id) not in (first, rejected, queued)
    assert board_fingerprint(scripted, job_id, decisions=False) not in (generation, behind_lightbox)
    assert review_board(scripted, job_id).reference(SCENE).version == 2
    with pytest.raises(NotFound):
        board_fingerprint(scripted, "nope")


def test_the_audit_trail_says_how_each_decision_arrived(scripted: Services, job_id: str) -> None:
    from studio.access.roles import local_operator

    approve(scripted, job_id, SCENE, reviewer="ana")
    approve(scripted, job_id, CHARACTER, actor=local_operator("me", channel="page"))
    by_cli = review_board(scripted, job_id).reference(SCENE).versions[-1].decisions[-1]
    by_page = review_board(scripted, job_id).reference(CHARACTER).versions[-1].decisions[-1]
    assert (by_cli.reviewer, by_cli.channel) == ("ana", "cli")
    assert "local operator's label, not a signed-in identity" in by_cli.via
    assert (by_page.channel, by_page.via) == ("page", "page")
