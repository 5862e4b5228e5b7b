"""Rounds of looks as leased work: a dead process's round is taken over and what it paid for adopted."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from studio.characters.look_rounds import MAX_ATTEMPTS, run_next
from studio.characters.looks import LooksRequest, list_looks, queue_looks, request_for
from studio.characters.provenance import look_ref
from studio.characters.songs import apply_template
from studio.records.looks import LookRoundRow
from studio.records.schema import utcnow
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET
from tests.servers.replicate import ReplicateServer
from tests.studio.characters.conftest import replicate_services


def _expire(services: Services, attempts: int | None = None) -> None:
    values: dict[str, object] = {"lease_expires_at": utcnow() - timedelta(seconds=1)}
    if attempts is not None:
        values["attempts"] = attempts
    with services.records.db.write() as s:
        s.execute(update(LookRoundRow).values(**values))


async def test_a_dead_processs_round_is_taken_over_and_its_prediction_adopted(
    data_dir: Path, replicate_server: ReplicateServer
) -> None:
    async with replicate_services(data_dir, replicate_server) as services:
        apply_template(services, "demo-song", "character-1")
        queue_looks(services, "demo-song", LooksRequest(count=3))
        claimed = await asyncio.to_thread(services.records.looks.claim, "dead-host:1:gone", 60)
        assert claimed is not None
        lease, found = claimed
        look = found.looks[1]
        init = services.storage.get(CHARACTER_BUCKET, found.round.init_key)
        records = services.records

        def recorded(prediction_id: str) -> None:
            records.db.post(
                records.ledger.record_prediction_op(
                    prediction_id, "replicate", look_ref(look.id), song_id="demo-song", epoch=lease.epoch
                )
            )

        await services.generator.predict(request_for(look, init), recorded)  # paid, then the process died
        _expire(services)
        result = await run_next(services)
        assert result is not None and result.status == "completed"
        assert replicate_server.created == 3, "the dead process's prediction was adopted, not paid again"
        await records.db.run(lambda _s: None)
        charged = {c.prediction_id: c.cost for c in replicate_server.charges()}
        ledger = [e for e in records.ledger.entries(song_id="demo-song") if e.stage == "looks"]
        assert {e.prediction_id: e.amount for e in ledger} == charged and len(ledger) == 3
        assert (await asyncio.to_thread(records.looks.round, found.round.id)).round.attempts == 2  # type: ignore[union-attr]


def test_a_round_that_keeps_crashing_is_failed_not_retried_forever(services: Services) -> None:
    apply_template(services, "demo-song", "character-1")
    queue_looks(services, "demo-song", LooksRequest(count=2))
    assert services.records.looks.claim("dead-host:1:gone", 60) is not None
    _expire(services, attempts=MAX_ATTEMPTS)
    result = asyncio.run(run_next(services))
    assert result is not None and result.status == "failed"
    [found] = list_looks(services, "demo-song").rounds
    assert found.error is not None and "gave up after 3 attempts" in found.error


def test_a_live_round_is_left_to_its_holder(services: Services) -> None:
    apply_template(services, "demo-song", "character-1")
    queue_looks(services, "demo-song", LooksRequest(count=1))
    assert services.records.looks.claim("other-host:2:busy", 60) is not None
    assert asyncio.run(run_next(services)) is None
