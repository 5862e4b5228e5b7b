"""Running a round of looks: one step of the worker's loop, and "run it now" (`character looks`).

A round is claimed under a lease (studio.records.leases) that a heartbeat renews, like a consistency job. Its
candidates are generated at once, each with its own seed; each is stored and recorded the moment it arrives,
so a round that fails part-way keeps the candidates that arrived. A round archived while it runs (a new
upload or template) loses its lease and stores nothing more; one whose process died is taken over when the
lease runs out, and the predictions it paid for are adopted.
"""

from __future__ import annotations

import asyncio
import logging

from studio.access.roles import Actor, require
from studio.characters.looks import (
    LooksRequest,
    LooksRound,
    as_result,
    plan_round,
    request_for,
    round_view,
)
from studio.characters.paid_calls import SongLedger
from studio.characters.provenance import look_ref, stamp_look
from studio.errors import NotFound, StudioError
from studio.generation.png_parameters import ensure_png
from studio.logs import log_step
from studio.money import to_nanos
from studio.records.leases import Lease
from studio.records.looks import OPEN_STATUSES, LookRoundRow, LookRow, RoundLooks, StoredLook
from studio.records.objects import ObjectCheck
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, look_key
from studio.work import Heartbeat, LeaseLost, follow, process_owner

log = logging.getLogger("studio.characters")

MAX_ATTEMPTS = 3
STAGE = "looks"


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, StudioError) else f"{type(error).__name__}: {error}"


class _Round:
    """One claimed round: its lease, what it starts from, and the song's ledger lines it writes."""

    def __init__(self, services: Services, lease: Lease, claimed: RoundLooks) -> None:
        self.services = services
        self.lease = lease
        self.row = claimed.round
        self.looks = claimed.looks
        self.song_id = claimed.round.song_id
        self.ledger = SongLedger(services, self.song_id, lease.epoch)

    async def candidate(self, look: LookRow, init: bytes, adopt: list[str]) -> None:
        """Generate, stamp, store and record one look; a failure is recorded on the look alone."""
        services, looks = self.services, self.services.records.looks
        request = request_for(look, init)
        try:
            image = await self.ledger.generate(STAGE, look_ref(look.id), request, adopt)
            png = await asyncio.to_thread(ensure_png, image.data, image.content_type)
            stamped = stamp_look(
                png, request, services.generator.model_version, look_id=look.id, round_number=self.row.number,
                strength=look.strength, parent=look.parent,
            )  # fmt: skip
            if not await services.records.db.run(looks.held_op(self.lease)):
                return  # archived or taken over meanwhile: the look is not this process's to store
            key = look_key(self.song_id, look.id)
            await asyncio.to_thread(services.storage.put, CHARACTER_BUCKET, key, stamped, "image/png")
        except Exception as exc:
            if not isinstance(exc, StudioError | OSError):  # a bug fails the look, not the worker
                log.exception("look %s of song %s crashed", look.id, self.song_id)
            await services.records.db.run(looks.fail_op(self.lease, self.song_id, look.id, _describe(exc)))
            return
        stored = StoredLook(
            cost_nanos=to_nanos(image.cost),
            provider=image.provider,
            model_version=image.model,
            prediction_id=image.prediction_id,
            check=ObjectCheck.of(stamped),
        )
        await services.records.db.run(looks.store_op(self.lease, self.song_id, look.id, stored))

    async def work(self) -> None:
        services = self.services
        try:
            init = await asyncio.to_thread(services.storage.get, CHARACTER_BUCKET, self.row.init_key)
        except (StudioError, OSError) as exc:
            problem = f"the image the round starts from ({self.row.init_key}) is missing: {_describe(exc)}"
            for look in self.looks:
                if look.status == "pending":
                    await services.records.db.run(
                        services.records.looks.fail_op(self.lease, self.song_id, look.id, problem)
                    )
            return
        pending = [look for look in self.looks if look.status == "pending"]
        recorded = await self.ledger.open_predictions()  # once for the round, not once per look
        await asyncio.gather(
            *(self.candidate(look, init, recorded.get(look_ref(look.id), [])) for look in pending)
        )

    async def finish(self) -> LooksRound | None:
        """End the round by what its looks became; None when the lease was lost meanwhile."""
        records = self.services.records
        await records.db.run(lambda _s: None)  # queued charges first
        found = await asyncio.to_thread(records.looks.round, self.row.id)
        assert found is not None
        statuses = [look.status for look in found.looks]
        errors = [look.error for look in found.looks if look.error]
        if all(status == "stored" for status in statuses):
            status, error = "completed", None
        elif "stored" in statuses:
            status, error = "partial", f"{len(errors)} of {len(statuses)} looks failed: {errors[0]}"
        else:
            status, error = "failed", f"every look failed: {errors[0] if errors else 'no look was made'}"
        if not await records.db.run(records.looks.finish_op(self.lease, status, error)):
            return None
        return await self.view()

    async def view(self) -> LooksRound:
        return await asyncio.to_thread(_current, self.services, self.row.id)


def _current(services: Services, round_id: str) -> LooksRound:
    found = services.records.looks.round(round_id)
    if found is None:
        raise NotFound(f"round {round_id}")
    song = services.records.songs.song(found.round.song_id)
    picked = song.character_look_id if song is not None else None
    return as_result(found.round.song_id, round_view(services, found, picked))


async def run_round(services: Services, lease: Lease, claimed: RoundLooks) -> LooksRound:
    """Run a round this process holds the lease of, until each look is stored or failed."""
    run = _Round(services, lease, claimed)
    if run.row.attempts > MAX_ATTEMPTS:
        reason = f"gave up after {MAX_ATTEMPTS} attempts: the worker stopped mid-round each time"
        await services.records.db.run(services.records.looks.finish_op(lease, "failed", reason))
        return await run.view()
    log_step(
        log,
        "round of looks started",
        song_id=run.song_id,
        stage=STAGE,
        outcome="running",
        round=run.row.number,
        looks=len(run.looks),
        attempt=run.row.attempts,
    )
    heartbeat = Heartbeat(
        lambda renew: services.records.looks.beat(lease, services.settings.lease_seconds if renew else None),
        services.settings.lease_seconds,
    )
    async with heartbeat:
        try:
            await heartbeat.hold(run.work())
            held = True
        except LeaseLost:
            held = False
    result = await run.finish() if held else None
    if result is None:
        log.info("round %d of song %s was archived or taken over while it ran", run.row.number, run.song_id)
        return await run.view()
    log_step(
        log,
        "round of looks ended",
        song_id=run.song_id,
        stage=STAGE,
        outcome=result.status,
        round=result.round,
    )
    return result


async def run_next(services: Services) -> LooksRound | None:
    """Claim and run the oldest runnable round; None when there is none."""
    claimed = await asyncio.to_thread(
        services.records.looks.claim, process_owner(), services.settings.lease_seconds
    )
    if claimed is None:
        return None
    return await run_round(services, *claimed)


async def looks_now(
    services: Services, song_id: str, ask: LooksRequest, *, actor: Actor | None = None
) -> LooksRound:
    """Queue a round and run it in the foreground (`character looks`), through the same claim as a worker;
    when a worker took it first, follow it to its end. Only creators spend (`actor`; without one, the local
    operator)."""
    require(actor, "create")
    planned = await asyncio.to_thread(plan_round, services, song_id, ask)
    queued = await asyncio.to_thread(services.records.looks.create_round, planned)
    round_id = queued.round.id
    claimed = await asyncio.to_thread(
        services.records.looks.claim, process_owner(), services.settings.lease_seconds, round_id=round_id
    )
    if claimed is not None:
        return await run_round(services, *claimed)

    async def read() -> LookRoundRow | None:
        found = await asyncio.to_thread(services.records.looks.round, round_id)
        return found.round if found is not None else None

    while True:  # another process holds it: follow it to its end, or take it over once its lease ran out
        row = await follow(read, lambda row: row.status not in OPEN_STATUSES)
        if row is None or row.status not in OPEN_STATUSES:
            return await asyncio.to_thread(_current, services, round_id)
        claimed = await asyncio.to_thread(
            services.records.looks.claim, process_owner(), services.settings.lease_seconds, round_id=round_id
        )
        if claimed is not None:
            return await run_round(services, *claimed)
