"""The review page in AppTest, from a fresh session: the board's data (cards with cached thumbnail URLs and
the words they should show), the decisions its outbox sends recorded in order, the lightbox's keyboard bar,
a rejection with a reason, a regeneration whose change goes into the negative prompt, failed cards.

The board itself (keys, cursor, selection) runs in the browser: tests/browser/test_review_board.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

from streamlit.testing.v1 import AppTest

from studio.references import jobs
from studio.review.gate import approve, reject, review_board
from studio.samples import load_sample
from studio.services import Services
from studio.work.runner import drain
from tests.app.conftest import OpenPage, wait_for_job
from tests.fakes import ScriptedGenerator, fatal

PAGE = "pages/review.py"


def generated(services: Services, sample: str = "music-video") -> str:
    """A job of a sample plan, generated on the local backends."""
    job_id = jobs.submit(services, load_sample(sample))
    asyncio.run(drain(services))
    return job_id


def key(name: str, job_id: str) -> str:
    return f"review-{name}-{job_id}"


def board_data(at: AppTest) -> dict[str, Any]:
    """What the page sent the board in the browser."""
    (board,) = at.get("bidi_component")
    assert board.proto.component_name == "reference_studio.review_board"
    data: dict[str, Any] = json.loads(board.proto.json)
    return data


def cards(at: AppTest) -> dict[str, dict[str, Any]]:
    return {card["ref"]: card for card in board_data(at)["cards"]}


def send(at: AppTest, job_id: str, *decisions: tuple[str, str, str | None]) -> AppTest:
    """The board's outbox, as the browser sends it: (id, ref, reason or None to approve) each."""
    outbox = [
        {"id": i, "ref": ref, "version": 1, "decision": "reject" if reason else "approve", "reason": reason}
        for i, ref, reason in decisions
    ]
    at.session_state[key("board", job_id)] = {"outbox": outbox}
    return at.run()


def open_lightbox(at: AppTest, job_id: str, ref: str) -> AppTest:
    """What V on a card does: the board names the reference, the page opens the lightbox on it."""
    at.session_state[key("cursor", job_id)] = ref
    at.session_state[key("lightbox", job_id)] = True
    return at.run()


def successes(at: AppTest) -> str:
    return " ".join(s.value for s in at.success)


def test_the_board_gets_every_reference_with_its_thumbnail_url_and_description(
    open_page: OpenPage, services: Services
) -> None:
    job_id = generated(services)
    board = review_board(services, job_id)
    refs = [r.ref for r in board.references]
    reject(services, job_id, refs[1], "too dark")
    approve(services, job_id, refs[2])
    at = open_page(PAGE)
    assert not at.exception, [e.value for e in at.exception]
    data = board_data(at)
    assert [c["ref"] for c in data["cards"]] == refs
    assert [c["status"] for c in data["cards"][:3]] == ["pending", "rejected", "approved"]
    assert data["cards"][1]["reason"] == "too dark"
    assert [c["text"] for c in data["cards"]] == [r.description for r in board.references]
    assert all(c["thumb"].startswith("/api/v1/thumbnails/reference-images/") for c in data["cards"])
    assert data["cursor"]["ref"] == refs[0], "a new session starts on the first pending reference"
    assert not at.image and not at.dataframe, "no image travels through the script run, no table unasked"
    assert not at.error, "the export's resting state is a checklist, not an error"
    checklist = next(m.value for m in at.markdown if m.value.startswith("**Before exporting**"))
    assert ":material/radio_button_unchecked: approve every reference: 1 of" in checklist, checklist
    assert at.get("download_button")[0].proto.disabled
    at.toggle(key=key("coverage", job_id)).set_value(True).run()
    assert len(at.dataframe) == 1, "the scene x character coverage, when asked for"


def test_the_boards_decisions_are_recorded_in_order_and_once(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services)
    refs = [r.ref for r in review_board(services, job_id).references]
    at = open_page(PAGE)
    send(at, job_id, ("1", refs[0], None), ("2", refs[1], "wrong framing"), ("3", refs[2], None))
    assert not at.exception, [e.value for e in at.exception]
    data = board_data(at)
    assert [(s["id"], s["recorded"]) for s in data["settled"]] == [("1", True), ("2", True), ("3", True)]
    assert [c["status"] for c in data["cards"][:4]] == ["approved", "rejected", "approved", "pending"]
    send(
        at,
        job_id,
        ("1", refs[0], None),
        ("2", refs[1], "wrong framing"),
        ("3", refs[2], None),
        ("4", refs[3], None),
    )
    decisions = [
        (d.ref, d.decision, d.reason, d.created_at)
        for r in review_board(services, job_id).references
        for v in r.versions
        for d in v.decisions
    ]
    in_order = [(ref, decision, reason) for ref, decision, reason, _ in sorted(decisions, key=lambda d: d[3])]
    assert in_order == [
        (refs[0], "approved", None),
        (refs[1], "rejected", "wrong framing"),
        (refs[2], "approved", None),
        (refs[3], "approved", None),
    ], "each once, in the order made"
    send(at, job_id, ("5", refs[4], "   "))
    (refused,) = board_data(at)["settled"]
    assert not refused["recorded"] and "needs a reason" in refused["problem"]

    reloaded = open_page(PAGE)
    made = time.time() - 1
    reloaded.session_state[key("board", job_id)] = {
        "outbox": [{"id": "3", "ref": refs[2], "version": 1, "decision": "approve", "made_at": made}]
    }
    reloaded.run()
    assert board_data(reloaded)["settled"][0]["recorded"]
    assert len(review_board(services, job_id).reference(refs[2]).versions[0].decisions) == 1, (
        "an outbox sent again after a reload records nothing twice"
    )


def test_retry_the_failed_from_the_page(open_page: OpenPage, services: Services) -> None:
    failing = dataclasses.replace(
        services, generator=ScriptedGenerator(script={"character_singer": [fatal("content_policy")]})
    )
    job_id = generated(failing, "minimal")
    at = open_page(PAGE)
    failed = cards(at)["character_singer"]
    assert (failed["status"], failed["thumb"], failed["note"]) == (
        "failed",
        None,
        "content_policy · 1 attempt",
    )
    open_lightbox(at, job_id, "character_singer")
    assert any("scripted content_policy" in e.value for e in at.error), "the full error in the lightbox"
    at.session_state[key("lightbox", job_id)] = False
    at.button(key=key("retry", job_id)).click().run()
    assert "queued again" in successes(at)
    assert wait_for_job(services, job_id) in ("success", "partial")
    at.run()
    assert review_board(services, job_id).reference("character_singer").status == "pending"
    assert cards(at)["character_singer"]["status"] == "pending"
    assert not at.exception


def test_the_lightbox_keyboard_bar_moves_approves_and_rejects(
    open_page: OpenPage, services: Services
) -> None:
    job_id = generated(services)
    refs = [r.ref for r in review_board(services, job_id).references]
    at = open_lightbox(open_page(PAGE), job_id, refs[0])
    keyed = {b.key.removesuffix(f"-{job_id}"): b.proto.shortcut for b in at.button if b.proto.shortcut}
    assert keyed == {
        "review-lightbox-previous": "left",
        "review-lightbox-next": "right",
        "review-lightbox-approve": "a",
        "review-lightbox-reject": "x",
    }, "while the lightbox is open its bar holds the keys"
    at.button(key=key("lightbox-approve", job_id)).click().run()
    assert f"{refs[0]} v1 approved" in successes(at)
    assert board_data(at)["cursor"]["ref"] == refs[1], (
        "the cursor moved to the next pending; the board follows"
    )
    turn = board_data(at)["cursor"]["turn"]
    at.button(key=key("lightbox-next", job_id)).click().run()
    at.button(key=key("lightbox-previous", job_id)).click().run()
    at.button(key=key("lightbox-previous", job_id)).click().run()
    assert board_data(at)["cursor"] == {"ref": refs[0], "turn": turn + 3}

    at.button(key=key("lightbox-reject", job_id)).click().run()
    reason = at.text_input(key=key(f"reason-{refs[0]}", job_id))
    next(b for b in at.button if b.label == "Reject").click().run()
    assert any("a rejection needs a reason" in e.value for e in at.error)
    reason = at.text_input(key=key(f"reason-{refs[0]}", job_id))
    reason.input("wrong coat colour")
    next(b for b in at.button if b.label == "Reject").click().run()
    assert f"{refs[0]} v1 rejected: wrong coat colour" in successes(at)
    trail = review_board(services, job_id).reference(refs[0]).versions[0].decisions
    assert [(d.decision, d.reason) for d in trail] == [("approved", None), ("rejected", "wrong coat colour")]
    assert any("wrong coat colour" in str(frame.value.values) for frame in at.dataframe), (
        "the audit trail in the lightbox"
    )


def test_regenerate_with_a_change_into_the_negative_prompt(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services, "minimal")
    scene = review_board(services, job_id).references[0]
    reject(services, job_id, scene.ref, "too dark, wrong coat colour")
    at = open_lightbox(open_page(PAGE), job_id, scene.ref)
    assert not at.exception, [e.value for e in at.exception]
    change = at.text_input(key=key(f"change-{scene.ref}-v1", job_id))
    assert change.value == "too dark, wrong coat colour", "the reason is where the change starts"
    change.input("Underexposed. Murky shadows").run()
    at.radio(key=key(f"target-{scene.ref}", job_id)).set_value("negative_prompt").run()
    previews = [h.proto.body for h in at.get("html") if "<ins" in h.proto.body]
    assert len(previews) == 1 and "underexposed, murky shadows</ins>" in previews[0]
    labels = " ".join(m.value for m in at.markdown)
    assert "New negative prompt" in labels and "/ 75 CLIP tokens" in labels
    at.button(key=key(f"regenerate-{scene.ref}", job_id)).click().run()
    assert f"{scene.ref}: v2 is queued" in successes(at)
    assert wait_for_job(services, job_id) == "success"
    at.run()
    latest = review_board(services, job_id).reference(scene.ref)
    first, second = latest.versions
    assert (latest.status, latest.version) == ("pending", 2)
    assert second.prompt == first.prompt, "the reason and the change stay out of the prompt"
    assert second.negative_prompt.endswith(", underexposed, murky shadows")
    assert second.note is not None and "too dark, wrong coat colour" in second.note
    assert cards(at)[scene.ref]["status"] == "pending", "v2 is pending on the board"
    compare = [h.proto.body for h in at.get("html") if "<ins" in h.proto.body]
    assert any("murky shadows</ins>" in body for body in compare), "the compare view highlights the change"
    assert "v2 is queued" not in successes(at), "the message goes once v2 has arrived"
    older, newer = (box for box in at.selectbox if box.label.startswith("Version"))
    assert (older.value, newer.value) == (1, 2), "the newest pair first"
    assert older.options == ["v2 · pending", "v1 · rejected"]


def test_approving_an_approved_reference_only_moves_on(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services, "minimal")
    scene, character = (r.ref for r in review_board(services, job_id).references)
    approve(services, job_id, scene)
    at = open_page(PAGE)
    assert board_data(at)["cursor"]["ref"] == character, "a new session starts on the first pending"
    open_lightbox(at, job_id, scene)
    at.button(key=key("lightbox-approve", job_id)).click().run()
    assert f"{scene} was already approved" in successes(at)
    assert len(review_board(services, job_id).reference(scene).versions[0].decisions) == 1
    assert board_data(at)["cursor"]["ref"] == character, "on to the next pending"
