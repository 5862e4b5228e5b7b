"""Who may do what: the same rules whether a page or the CLI asks, checked in the service layer, with the
actor recorded in the audit trail and the export."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any, get_args

import pytest

from studio.access.roles import (
    AccessDenied,
    Actor,
    Permission,
    local_operator,
    require,
    role_rules,
    signed_in,
)
from studio.characters.consistency import generate_now
from studio.characters.descriptions import save_edits
from studio.characters.look_rounds import looks_now
from studio.characters.looks import LooksRequest, pick_look, queue_looks
from studio.characters.songs import apply_template, upload_character_image
from studio.errors import ConfigurationError, InvalidInput
from studio.plans.scene_plan import load_plan
from studio.references import jobs
from studio.references.gallery import retry_failed
from studio.review.export import export_manifest
from studio.review.gate import approve, approve_many, reject, review_board
from studio.review.regeneration import regenerate_rejected
from studio.services import Services
from tests.fakes import ScriptedGenerator
from tests.studio.review.test_gate import CHARACTER, MINIMAL, SCENE, run
from tests.studio.written import everything

CREATOR = Actor(name="Cora", email="cora@example.com", roles=frozenset({"creator"}))
REVIEWER = Actor(name="Rex", email="rex@example.com", roles=frozenset({"reviewer"}))
ADMIN = Actor(name="Ada", email="ada@example.com", roles=frozenset({"admin"}))
NOBODY = Actor(name="Nick", email="nick@example.com", roles=frozenset())


@pytest.fixture
def scripted(services: Services) -> Iterator[Services]:
    yield dataclasses.replace(services, generator=ScriptedGenerator())


@pytest.fixture
def job_id(scripted: Services) -> str:
    return run(scripted, load_plan(MINIMAL))


def statuses(services: Services, job_id: str) -> list[str]:
    return [r.status for r in review_board(services, job_id).references]


def test_the_local_operator_holds_every_role_and_is_named_by_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "carol")
    operator = local_operator()
    assert (operator.name, operator.who, operator.local) == ("carol", "carol", True)
    assert all(operator.may(p) for p in get_args(Permission))
    assert local_operator("  Dana   Q ").name == "Dana Q"
    assert require(None, "review").name == "carol"


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (CREATOR, {"create", "export"}),
        (REVIEWER, {"review", "export"}),
        (ADMIN, {"costs", "doctor", "operate"}),
        (NOBODY, set()),
    ],
)
def test_each_role_permits_its_own_work(actor: Actor, allowed: set[str]) -> None:
    for permission in get_args(Permission):
        if permission in allowed:
            assert require(actor, permission) is actor  # type: ignore[arg-type]
        else:
            with pytest.raises(AccessDenied):
                require(actor, permission)  # type: ignore[arg-type]


def test_a_creator_cannot_approve_or_reject_and_nothing_is_written(scripted: Services, job_id: str) -> None:
    with pytest.raises(
        AccessDenied, match=r"cora@example.com \(creator\) may not approve or reject .*reviewers"
    ):
        approve(scripted, job_id, SCENE, actor=CREATOR)
    with pytest.raises(AccessDenied):
        reject(scripted, job_id, SCENE, "too dark", actor=CREATOR)
    with pytest.raises(AccessDenied):
        approve_many(scripted, job_id, [SCENE, CHARACTER], actor=ADMIN)
    assert statuses(scripted, job_id) == ["pending", "pending"]


def test_a_reviewer_decides_and_the_audit_trail_records_their_email(scripted: Services, job_id: str) -> None:
    assert approve(scripted, job_id, SCENE, actor=REVIEWER).reviewer == "rex@example.com"
    rejected = reject(scripted, job_id, CHARACTER, "wrong coat", actor=REVIEWER)
    assert (rejected.reviewer, rejected.reason) == ("rex@example.com", "wrong coat")
    trail = [d.reviewer for r in review_board(scripted, job_id).references for d in r.versions[-1].decisions]
    assert trail == ["rex@example.com", "rex@example.com"]


def test_a_signed_in_reviewer_cannot_be_recorded_under_a_typed_name(scripted: Services, job_id: str) -> None:
    with pytest.raises(InvalidInput, match="reviewer: a signed-in reviewer is recorded by their identity"):
        approve(scripted, job_id, SCENE, "someone else", actor=REVIEWER)
    assert statuses(scripted, job_id) == ["pending", "pending"]


def test_export_is_for_creators_and_reviewers_and_names_who_exported(scripted: Services, job_id: str) -> None:
    approve_many(scripted, job_id, [SCENE, CHARACTER], actor=REVIEWER)
    with pytest.raises(
        AccessDenied, match=r"ada@example.com \(admin\) may not open the review board or export"
    ):
        export_manifest(scripted, job_id, actor=ADMIN)
    assert export_manifest(scripted, job_id, actor=CREATOR).exported_by == "cora@example.com"
    manifest = export_manifest(scripted, job_id, actor=REVIEWER)
    assert manifest.exported_by == "rex@example.com"
    assert {r.approved_by for r in manifest.references} == {"rex@example.com"}


def test_only_creators_generate_regenerate_or_retry(scripted: Services, job_id: str) -> None:
    plan = load_plan(MINIMAL)
    events = len(scripted.records.events.after(job_id))
    for actor in (REVIEWER, ADMIN, NOBODY):
        with pytest.raises(AccessDenied, match="may not generate or spend: only creators may"):
            jobs.submit(scripted, plan, actor=actor)
        with pytest.raises(AccessDenied):
            retry_failed(scripted, job_id, actor=actor)
        with pytest.raises(AccessDenied):
            asyncio.run(jobs.generate(scripted, plan, actor=actor))
    reject(scripted, job_id, SCENE, "too dark", actor=REVIEWER)
    with pytest.raises(AccessDenied):
        regenerate_rejected(scripted, job_id, SCENE, actor=REVIEWER)
    after = scripted.records.jobs.get(job_id)
    assert after is not None and after.status == "success"
    assert len(scripted.records.events.after(job_id)) == events, "nothing was queued"
    assert jobs.submit(scripted, plan, actor=CREATOR) == job_id
    assert scripted.records.jobs.get(job_id).status == "queued"  # type: ignore[union-attr]


def test_a_reviewer_cannot_upload_a_character(scripted: Services, character_png: bytes) -> None:
    with pytest.raises(AccessDenied):
        upload_character_image(scripted, "song-1", character_png, "A", actor=REVIEWER)
    assert scripted.records.songs.song("song-1") is None
    stored = upload_character_image(scripted, "song-1", character_png, "A", actor=CREATOR)
    assert stored.job_id is not None


def test_only_creators_shape_a_character_or_spend_on_its_looks(
    scripted: Services, character_png: bytes
) -> None:
    upload_character_image(scripted, "song-1", character_png, "A", actor=CREATOR)
    assert asyncio.run(generate_now(scripted, "song-1")).status == "completed"
    before = song_state(scripted)
    refused = {
        "template": lambda who: apply_template(scripted, "song-1", "character-2", actor=who),
        "edit": lambda who: save_edits(
            scripted, "song-1", {"character_description": "a tall drummer"}, actor=who
        ),
        "queue looks": lambda who: queue_looks(scripted, "song-1", LooksRequest(count=2), actor=who),
        "looks now": lambda who: asyncio.run(looks_now(scripted, "song-1", LooksRequest(count=2), actor=who)),
        "pick": lambda who: pick_look(scripted, "song-1", "r1-1", actor=who),
    }
    for name, call in refused.items():
        for who in (REVIEWER, ADMIN, NOBODY):
            with pytest.raises(AccessDenied, match="may not generate or spend: only creators may"):
                call(who)
        assert song_state(scripted) == before, f"a refused {name} wrote something"
    assert (
        asyncio.run(looks_now(scripted, "song-1", LooksRequest(count=2), actor=CREATOR)).status == "completed"
    )
    assert pick_look(scripted, "song-1", "r2-2", actor=CREATOR).picked.picked


def song_state(services: Services) -> dict[str, Any]:
    """Every row and every stored object (never a listing with signed URLs: their expiry moves)."""
    return everything(services)


@pytest.fixture
def character_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def test_roles_come_from_emails_domains_or_a_claim() -> None:
    rules = role_rules(
        {
            "creator": ["Cora@Example.com", "*@studio.example"],
            "reviewer": "rex@example.com",
            "claim": "groups",
        }
    )
    assert rules.roles_of({"email": "cora@example.com"}) == {"creator"}
    assert rules.roles_of({"email": "anyone@studio.example"}) == {"creator"}
    assert rules.roles_of({"email": "rex@example.com", "groups": ["admin", "other"]}) == {"reviewer", "admin"}
    assert rules.roles_of({"email": "x@example.com", "groups": "Reviewer"}) == {"reviewer"}
    assert rules.roles_of({"email": "rex@example.com", "email_verified": False}) == set()
    assert rules.roles_of({"email": "stranger@example.com"}) == set()


def test_environment_overrides_the_roles_table() -> None:
    rules = role_rules(
        {"reviewer": ["rex@example.com"]},
        {"STUDIO_ROLES_REVIEWER": "ana@example.com, ben@example.com", "STUDIO_ROLES_CLAIM": "roles"},
    )
    assert rules.reviewer == ("ana@example.com", "ben@example.com") and rules.claim == "roles"


def test_a_wrong_roles_table_says_which_key_and_why() -> None:
    with pytest.raises(ConfigurationError) as refused:
        role_rules({"reviewers": ["a@b.example"], "admin": ["not-an-email"]})
    message = str(refused.value)
    assert "admin: 'not-an-email' is not an e-mail or *@domain" in message
    assert "reviewers: unknown key" in message


def test_a_signed_in_identity_is_named_by_its_email() -> None:
    rules = role_rules({"reviewer": ["rex@example.com"]})
    actor = signed_in({"email": "Rex@Example.com", "name": "Rex  Reviewer", "sub": "42"}, rules)
    assert (actor.name, actor.who, actor.roles, actor.local) == (
        "Rex Reviewer",
        "rex@example.com",
        {"reviewer"},
        False,
    )
    without_email = signed_in({"sub": "user-42"}, rules)
    assert (without_email.who, without_email.roles) == ("user-42", set())
    with pytest.raises(InvalidInput, match="e-mail: is 90 characters long"):
        signed_in({"email": "a" * 78 + "@example.com"}, rules)


def test_the_cli_acts_as_the_named_local_operator_and_it_is_logged(
    scripted: Services, job_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="studio.review"):
        decision = approve(scripted, job_id, SCENE, "alice")
        now = statuses(scripted, job_id)
    assert decision.reviewer == "alice" and now == ["approved", "pending"]
    [line] = [r for r in caplog.records if r.getMessage() == "review decision"]
    assert (line.reviewer, line.reference, line.outcome) == ("alice", SCENE, "approved")  # type: ignore[attr-defined]
