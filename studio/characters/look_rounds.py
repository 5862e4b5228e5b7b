"""Making looks: the handler of rounds of looks, the one way a look is made (shared with the consistency
job), and "run it now" (`character looks`).

A round's candidates are made at once, each with its own seed, through the one paid-call path (a takeover
adopts what the dead holder paid for). Each is stored, then recorded, the moment it arrives, so a round that
fails part-way keeps the candidates that arrived. A round archived while it runs (a new upload or template)
loses its lease and records nothing more.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.orm import Session

from studio.access.roles import Actor, require
from studio.characters.character_models import conditioning_images
from studio.characters.looks import LooksRequest, LooksRound, as_result, plan_round, request_for, round_view
from studio.characters.provenance import look_ref, stamp_look
from studio.costs.paid_calls import Account, PaidCalls, Purchase
from studio.errors import BudgetExceeded, GenerationError, NotFound, StudioError
from studio.generation.base import ReferenceImage
from studio.generation.models import image_model
from studio.generation.png_parameters import ensure_png
from studio.logs import log_step
from studio.money import to_nanos
from studio.records.looks import LookRow, LookStatus, RoundLooks, RoundStatus, StoredLook
from studio.records.objects import ObjectCheck
from studio.records.work import Lease, WorkKind, WorkStatus, finish_in, is_held
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, look_key
from studio.work import LeaseLost
from studio.work.queue import Ended, Run, handles, run_or_follow

log = logging.getLogger("studio.characters")

STAGE = "looks"


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, StudioError) else f"{type(error).__name__}: {error}"


async def make_look(
    run: Run,
    paid: PaidCalls,
    found: RoundLooks,
    look: LookRow,
    init: bytes,
    references: tuple[ReferenceImage, ...] = (),
) -> bytes | None:
    """Pay for, stamp, store and then record one look; its stamped PNG, or None when it failed (recorded on
    the look alone). LeaseLost when the round was archived or taken over; Unavailable when storage or the
    database failed (the round goes back to the queue, the paid call is adopted later)."""
    services, looks = run.services, run.services.records.looks
    request = request_for(look, init, found.round.model, references)
    purchase = Purchase(look_ref(look.id))
    try:
        settled = await paid.image(purchase, request)
        try:
            image = await settled.fetch()
        except GenerationError:
            services.records.db.post(paid.dropped(purchase))
            raise
        png = await asyncio.to_thread(ensure_png, image.data, image.content_type)
    except (GenerationError, BudgetExceeded) as error:
        await services.records.db.run(looks.fail_op(run.lease, look.song_id, look.id, _describe(error)))
        return None
    stamped = stamp_look(
        png, request, image.model, look_id=look.id, round_number=found.round.number,
        strength=look.strength, parent=look.parent,
    )  # fmt: skip
    key = look_key(look.song_id, look.id)
    await _still_held(run)
    await asyncio.to_thread(services.storage.put, CHARACTER_BUCKET, key, stamped, "image/png")
    stored = StoredLook(
        cost_nanos=to_nanos(purchase.cost),
        provider=image.provider,
        model_version=image.model,
        prediction_id=image.prediction_id,
        check=ObjectCheck.of(stamped),
    )
    if not await services.records.db.run(
        looks.store_op(run.lease, look.song_id, look.id, stored, purchase.calls)
    ):
        raise LeaseLost(run.lease.id)
    return stamped


async def _still_held(run: Run) -> None:
    """LeaseLost when the work was archived or taken over: what it made is not its to store any more."""
    lease = run.lease
    if not await run.services.records.db.query(lambda s: is_held(s, lease)):
        raise LeaseLost(lease.id)


async def make_looks(run: Run, paid: PaidCalls, found: RoundLooks) -> dict[str, bytes]:
    """Every pending look of a round at once (a takeover adopts what was paid for first): each stored
    look's PNG by look id. A missing starting image fails the looks, not the worker."""
    services = run.services
    pending = [look for look in found.looks if look.status == LookStatus.PENDING]
    try:
        init = await asyncio.to_thread(services.storage.get, CHARACTER_BUCKET, found.round.init_key)
    except NotFound as error:
        problem = f"the image the round starts from ({found.round.init_key}) is missing: {_describe(error)}"
        for look in pending:
            await services.records.db.run(
                services.records.looks.fail_op(run.lease, look.song_id, look.id, problem)
            )
        return {}
    references = await asyncio.to_thread(round_references, services, found)
    model = found.round.model
    requests = {look_ref(look.id): request_for(look, init, model, references) for look in pending}
    await paid.take_over(requests)
    made = await run.heartbeat.hold(
        asyncio.gather(*(make_look(run, paid, found, look, init, references) for look in pending))
    )
    await paid.settle_leftovers(requests)
    await paid.flushed()
    return {look.id: png for look, png in zip(pending, made, strict=True) if png is not None}


def round_references(services: Services, found: RoundLooks) -> tuple[ReferenceImage, ...]:
    """A round of a conditioned model: the song's images, the one it starts from first; SDXL: none."""
    model = image_model(found.round.model)
    song = services.records.songs.song(found.round.song_id)
    if not model.conditioned or song is None:
        return ()
    start = f"look:{found.round.parent}" if found.round.parent else "pose-a"
    return conditioning_images(services, song, found.round.init_key, model.max_references, start)


def round_outcome(found: RoundLooks) -> tuple[RoundStatus, str | None]:
    """How a round ended, by what its looks became."""
    statuses = [look.status for look in found.looks]
    errors = [look.error for look in found.looks if look.error]
    if all(status == LookStatus.STORED for status in statuses):
        return RoundStatus.COMPLETED, None
    if LookStatus.STORED in statuses:
        return RoundStatus.PARTIAL, f"{len(errors)} of {len(statuses)} looks failed: {errors[0]}"
    return RoundStatus.FAILED, f"every look failed: {errors[0] if errors else 'no look was made'}"


async def fail_round(services: Services, lease: Lease, reason: str) -> bool:
    """The round could not be made: it ends failed with the reason, its work failed."""

    def op(s: Session) -> bool:
        from studio.records.looks import end_round_in

        return end_round_in(s, lease, lease.subject, RoundStatus.FAILED, reason) and finish_in(
            s, lease, WorkStatus.FAILED, reason
        )

    return await services.records.db.run(op)


@handles(WorkKind.LOOKS, fail=fail_round)
async def run_round(run: Run) -> Ended:
    """Make a claimed round's looks, then record how the round ended."""
    services, lease = run.services, run.lease
    records = services.records
    found = await records.looks.around(lease.subject)
    if found is None:
        raise NotFound(f"round {lease.subject}")
    song_id = found.round.song_id
    log_step(
        log, "round of looks started", song_id=song_id, stage=STAGE, outcome="running",
        round=found.round.number, looks=len(found.looks), attempt=run.work.attempts,
    )  # fmt: skip
    paid = PaidCalls(run, Account(STAGE, song_id=song_id))
    try:
        await make_looks(run, paid, found)
    except LeaseLost:
        log.info("round %d of song %s was archived or taken over while it ran", found.round.number, song_id)
        return Ended.LOST
    ended = await records.looks.around(lease.subject)
    assert ended is not None
    outcome, error = round_outcome(ended)
    if not await records.db.run(records.looks.finish_op(lease, outcome, error)):
        return Ended.LOST
    log_step(
        log, "round of looks ended", song_id=song_id, stage=STAGE, outcome=outcome, round=found.round.number
    )
    return Ended.DONE


def current_round(services: Services, round_id: str) -> LooksRound:
    found = services.records.looks.round(round_id)
    if found is None:
        raise NotFound(f"round {round_id}")
    song = services.records.songs.song(found.round.song_id)
    picked = song.character_look_id if song is not None else None
    return as_result(found.round.song_id, round_view(services, found, picked))


async def looks_now(
    services: Services, song_id: str, ask: LooksRequest, *, actor: Actor | None = None
) -> LooksRound:
    """Queue a round and run it in the foreground (`character looks`), through the same claim as a worker;
    when a worker took it first, follow it to its end. Only creators spend (`actor`; without one, the local
    operator)."""
    require(actor, "create")
    planned = await asyncio.to_thread(plan_round, services, song_id, ask)
    queued = await asyncio.to_thread(services.records.looks.create_round, planned)
    assert queued.round.work_id is not None
    await run_or_follow(services, queued.round.work_id)
    return await asyncio.to_thread(current_round, services, queued.round.id)


__all__ = ["fail_round", "looks_now", "make_look", "make_looks", "round_outcome", "run_round"]
