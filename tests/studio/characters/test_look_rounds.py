"""Rounds of looks as work: a dead process's round is taken over and what it paid for adopted, even when the
prediction's id never reached the records."""

from __future__ import annotations

import asyncio
from pathlib import Path

from studio.characters.looks import LooksRequest, list_looks, queue_looks, request_for
from studio.characters.provenance import look_ref
from studio.characters.songs import apply_template
from studio.records.paid_calls import start_in
from studio.records.work import WorkKind
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET
from studio.work.queue import Ended, run_next
from tests.servers.replicate import ReplicateServer
from tests.studio.characters.conftest import replicate_services
from tests.studio.work.leases import expire


async def test_a_dead_processs_round_is_taken_over_and_its_paid_call_adopted(
    data_dir: Path, replicate_server: ReplicateServer
) -> None:
    """The dead holder recorded the call and created the prediction, but was killed before Replicate's answer
    (and so the prediction's id) came back: the takeover finds it by version, prompt and seed."""
    async with replicate_services(data_dir, replicate_server) as services:
        apply_template(services, "demo-song", "character-1")
        queued = queue_looks(services, "demo-song", LooksRequest(count=3))
        records = services.records
        claimed = await records.work.claim("dead-host:1:gone", 60, kinds=(WorkKind.LOOKS,))
        assert claimed is not None
        lease = claimed.lease
        round_ = records.looks.round(lease.subject)
        assert round_ is not None and round_.round.number == queued.round
        look = round_.looks[1]
        init = services.storage.get(CHARACTER_BUCKET, round_.round.init_key)
        await records.db.run(
            lambda s: start_in(s, lease, look_ref(look.id), "replicate", job_id=None, song_id="demo-song")
        )
        await services.generator.predict(request_for(look, init))  # paid; its id never recorded
        expire(services, lease.id)
        assert await run_next(services) is Ended.DONE
        assert replicate_server.created == 3, "the dead process's prediction was adopted, not paid again"
        charged = {c.prediction_id: c.cost for c in replicate_server.charges()}
        ledger = [e for e in records.ledger.entries(song_id="demo-song") if e.stage == "looks"]
        assert {e.prediction_id: e.amount for e in ledger} == charged and len(ledger) == 3
        [listed] = list_looks(services, "demo-song").rounds
        assert listed.status == "completed" and all(found.status == "stored" for found in listed.looks)
        assert records.work.get(lease.id).attempts == 2  # type: ignore[union-attr]


def test_a_round_that_keeps_crashing_is_failed_not_retried_forever(services: Services) -> None:
    apply_template(services, "demo-song", "character-1")
    queue_looks(services, "demo-song", LooksRequest(count=2))
    claimed = asyncio.run(services.records.work.claim("dead-host:1:gone", 60))
    assert claimed is not None
    expire(services, claimed.lease.id, attempts=3)
    assert asyncio.run(run_next(services)) is Ended.FAILED
    [found] = list_looks(services, "demo-song").rounds
    assert found.status == "failed" and found.error is not None and "gave up after 3 attempts" in found.error


def test_a_live_round_is_left_to_its_holder(services: Services) -> None:
    apply_template(services, "demo-song", "character-1")
    queue_looks(services, "demo-song", LooksRequest(count=1))
    assert asyncio.run(services.records.work.claim("other-host:2:busy", 60)) is not None
    assert asyncio.run(run_next(services)) is None
