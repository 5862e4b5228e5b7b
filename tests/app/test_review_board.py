"""The review board in AppTest, from a fresh session: cards, filters, approve-selected, the keyboard bar,
a rejection with a reason, a regeneration whose change goes into the negative prompt, failed cards."""

from __future__ import annotations

import asyncio
import dataclasses

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Checkbox

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


def card_refs(at: AppTest, job_id: str) -> list[str]:
    """The references whose cards are drawn, in order (every card has an Open or a Retry button)."""
    prefix = f"review-card-{job_id}-"
    return [block.key.removeprefix(prefix) for block in _blocks(at) if (block.key or "").startswith(prefix)]


def selectable(box: Checkbox, job_id: str) -> str:
    """The reference a card's checkbox selects (its key is `review-select-<round>-<ref>-<job>`)."""
    assert box.key is not None and box.key.startswith("review-select-") and box.key.endswith(job_id)
    return box.key.removesuffix(f"-{job_id}").split("-", 3)[3]


def checkbox(at: AppTest, job_id: str, ref: str) -> Checkbox:
    return next(box for box in at.checkbox if selectable(box, job_id) == ref)


def _blocks(at: AppTest) -> list:  # type: ignore[type-arg]
    found, todo = [], list(at.main.children.values())
    while todo:
        node = todo.pop(0)
        if hasattr(node, "children"):
            found.append(node)
            todo[:0] = list(node.children.values())
    return found


def show(at: AppTest, job_id: str, board_filter: str) -> AppTest:
    return at.segmented_control(key=key("filter", job_id)).set_value(board_filter).run()


def successes(at: AppTest) -> str:
    return " ".join(s.value for s in at.success)


def test_the_board_shows_every_reference_and_filters_them(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services)
    refs = [r.ref for r in review_board(services, job_id).references]
    reject(services, job_id, refs[1], "too dark")
    approve(services, job_id, refs[2])
    at = open_page(PAGE)
    assert not at.exception, [e.value for e in at.exception]
    assert card_refs(at, job_id) == refs and len(at.image) == 6
    options = at.segmented_control(key=key("filter", job_id)).options
    assert options == ["all · 6", "pending · 4", "rejected · 1", "failed · 0", "approved · 1"]
    assert card_refs(show(at, job_id, "pending"), job_id) == [refs[0], *refs[3:]]
    assert card_refs(show(at, job_id, "rejected"), job_id) == [refs[1]]
    assert card_refs(show(at, job_id, "failed"), job_id) == []
    assert any("No failed references" in i.value for i in at.info)
    assert any("Export refused" in e.value for e in at.error)


def test_approve_selected_then_every_pending_one(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services)
    refs = [r.ref for r in review_board(services, job_id).references]
    at = open_page(PAGE)
    approve_selected = at.button(key=key("approve-selected", job_id))
    assert approve_selected.disabled
    for ref in refs[:2]:
        checkbox(at, job_id, ref).check().run()
    assert at.button(key=key("approve-selected", job_id)).label == "Approve selected (2)"
    at.button(key=key("approve-selected", job_id)).click().run()
    assert "2 references approved" in successes(at)
    assert review_board(services, job_id).pending == refs[2:]
    assert [selectable(c, job_id) for c in at.checkbox] == refs[2:]
    assert not any(c.value for c in at.checkbox), "the selection is cleared"

    at.button(key=key("select-pending", job_id)).click().run()
    assert all(c.value for c in at.checkbox)
    at.button(key=key("approve-selected", job_id)).click().run()
    assert review_board(services, job_id).unapproved == {}
    assert not at.error and len(at.get("download_button")) == 1


def test_the_keyboard_bar_moves_approves_and_opens_the_rejection(
    open_page: OpenPage, services: Services
) -> None:
    job_id = generated(services)
    refs = [r.ref for r in review_board(services, job_id).references]
    at = open_page(PAGE)
    shortcuts = {b.label: b.proto.shortcut for b in at.button if b.proto.shortcut}
    assert shortcuts == {"Previous": "left", "Next": "right", "Approve": "a", "Reject…": "x", "Open": "v"}
    at.button(key=key("board-approve", job_id)).click().run()
    assert f"{refs[0]} v1 approved" in successes(at)
    assert any(f"`{refs[1]}`" in m.value for m in at.markdown), "the cursor moved to the next pending"
    at.button(key=key("board-next", job_id)).click().run()
    at.button(key=key("board-previous", job_id)).click().run()
    at.button(key=key("board-previous", job_id)).click().run()
    assert any(f"`{refs[0]}`" in m.value and "approved" in m.value for m in at.markdown)

    at.button(key=key("board-reject", job_id)).click().run()
    keyed = {b.key.removesuffix(f"-{job_id}") for b in at.button if b.proto.shortcut}
    assert keyed == {f"review-lightbox-{name}" for name in ("previous", "next", "approve", "reject")}, (
        "while the lightbox is open its bar holds the keys, the board's none"
    )
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
    at = open_page(PAGE)
    at.button(key=key(f"open-{scene.ref}", job_id)).click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key=key(f"change-{scene.ref}", job_id)).input("Underexposed. Murky shadows").run()
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
    assert scene.ref in [selectable(c, job_id) for c in at.checkbox], "v2 is pending on the board"
    compare = [h.proto.body for h in at.get("html") if "<ins" in h.proto.body]
    assert any("murky shadows</ins>" in body for body in compare), "the compare view highlights the change"


def test_a_failed_reference_is_a_card_with_its_error_and_a_retry(
    open_page: OpenPage, services: Services
) -> None:
    failing = dataclasses.replace(
        services, generator=ScriptedGenerator(script={"character_singer": [fatal("content_policy")]})
    )
    job_id = generated(failing, "minimal")
    at = open_page(PAGE)
    assert card_refs(show(at, job_id, "failed"), job_id) == ["character_singer"]
    assert any("content_policy · 1 attempt" in e.value for e in at.error)
    assert any("scripted content_policy" in t.value for t in at.text), "the full error on the card"
    at.button(key=key("retry-character_singer", job_id)).click().run()
    assert "queued again" in successes(at)
    assert wait_for_job(services, job_id) in ("success", "partial")
    at.run()
    assert review_board(services, job_id).reference("character_singer").status == "pending"
    assert card_refs(at, job_id) == []
    assert any("No failed references" in i.value for i in at.info)


def test_approving_an_approved_reference_only_moves_on(open_page: OpenPage, services: Services) -> None:
    job_id = generated(services, "minimal")
    scene, character = (r.ref for r in review_board(services, job_id).references)
    approve(services, job_id, scene)
    at = open_page(PAGE)
    assert any(f"`{character}`" in m.value for m in at.markdown), "a new session starts on the first pending"
    at.button(key=key("board-previous", job_id)).click().run()
    at.button(key=key("board-approve", job_id)).click().run()
    assert f"{scene} was already approved" in successes(at)
    assert len(review_board(services, job_id).reference(scene).versions[0].decisions) == 1
    assert any(f"`{character}`" in m.value for m in at.markdown), "on to the next pending"


def test_pages_of_48_follow_the_cursor(open_page: OpenPage, services: Services) -> None:
    scripted = dataclasses.replace(services, generator=ScriptedGenerator())
    plan = load_sample("road-trip-32")
    scenes = [plan.scenes[i % len(plan.scenes)].model_copy(update={"id": f"s{i}"}) for i in range(52)]
    job_id = jobs.submit(scripted, plan.model_copy(update={"scenes": scenes}))
    asyncio.run(drain(scripted))
    refs = [r.ref for r in review_board(services, job_id).references]
    at = open_page(PAGE)
    assert len(refs) == 60 and card_refs(at, job_id) == refs[:48]
    at.button(key=key("board-previous", job_id)).click().run()
    assert card_refs(at, job_id) == refs[48:], "previous from the first reference: the last page"
    assert at.pagination[0].value == 2
    at.pagination[0].set_value(1).run()
    assert card_refs(at, job_id) == refs[:48]
    assert any(f"`{refs[0]}`" in m.value for m in at.markdown), "turning a page moves the cursor"
    assert not at.exception
