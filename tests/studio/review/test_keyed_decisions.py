"""Decisions made on the board in the browser: recorded in the order made, each once, even when the outbox
is sent again after a reload; a refused one does not stop the ones after it."""

from __future__ import annotations

import asyncio
import time

from studio.references import jobs
from studio.review.gate import review_board
from studio.review.keyed_decisions import DecisionOutcome, KeyedDecision, record_in_order
from studio.samples import load_sample
from studio.services import Services
from studio.work.runner import drain


def test_the_outbox_is_recorded_in_order_and_once(services: Services) -> None:
    job_id = jobs.submit(services, load_sample("music-video"))
    asyncio.run(drain(services))
    refs = [r.ref for r in review_board(services, job_id).references]
    pressed = time.time()
    outbox = [
        KeyedDecision(id="1", ref=refs[0], version=1, decision="approve", made_at=pressed),
        KeyedDecision(id="2", ref=refs[1], version=1, decision="reject", reason="too dark", made_at=pressed),
        KeyedDecision(id="3", ref=refs[2], version=1, decision="reject", reason=" "),
        KeyedDecision(id="4", ref=refs[2], version=7, decision="approve"),
        KeyedDecision(id="5", ref=refs[1], version=1, decision="approve"),
    ]
    done: dict[str, DecisionOutcome] = {}
    outcomes = record_in_order(services, job_id, outbox, done)
    assert [(o.id, o.recorded) for o in outcomes] == [
        ("1", True),
        ("2", True),
        ("3", False),
        ("4", False),
        ("5", True),
    ]
    assert "needs a reason" in (outcomes[2].problem or "")
    assert record_in_order(services, job_id, outbox, done) == [], "ids settled before are skipped"
    after_reload = record_in_order(services, job_id, outbox[:2], {})
    assert [o.recorded for o in after_reload] == [True, True]
    board = review_board(services, job_id)
    trail = [(d.ref, d.decision, d.reason) for r in board.references for v in r.versions for d in v.decisions]
    assert sorted(trail) == sorted(
        [
            (refs[0], "approved", None),
            (refs[1], "rejected", "too dark"),
            (refs[1], "approved", None),
        ]
    ), "approve, reject, approve again: each recorded once; the outbox resent after a reload adds nothing"
    assert (board.reference(refs[1]).status, board.reference(refs[2]).status) == ("approved", "pending")
