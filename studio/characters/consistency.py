"""The consistency job: interrogate a song's uploaded reference and make a consistent character from it.

Steps: read the reference, interrogate it (with fallback) and keep the answer on the song, synthesize the
seed's prompt from the interrogation with the creator's edits (studio.characters.descriptions), then make the
first look of a new round the way every look is made (studio.characters.look_rounds: paid once, stored,
then recorded), which becomes the song's generated image unless the creator has picked another look. A
failure leaves the uploaded reference untouched and usable. A takeover goes on from what was recorded: the
interrogation, the round and its paid call.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from studio.characters.character_models import song_model
from studio.characters.descriptions import consistent_prompt, edits_of
from studio.characters.images import sniff_content_type
from studio.characters.look_rounds import make_looks, round_outcome
from studio.characters.looks import NEGATIVE_PROMPT, publish_pick
from studio.characters.songs import consistency_budget
from studio.characters.templates import template_name
from studio.costs.paid_calls import Account, PaidCalls
from studio.errors import GenerationError, NotFound, StudioError
from studio.generation.base import DEFAULT_STRENGTH
from studio.generation.seeds import reference_seed
from studio.interrogation.base import Interrogation, Interrogator
from studio.interrogation.chain import interrogate_with_fallback
from studio.logs import log_step
from studio.records.ledger import LedgerEntry
from studio.records.looks import NewRound, RoundStatus, add_round_in, end_round_in
from studio.records.paid_calls import charge_in
from studio.records.songs import CharacterJob, ConsistencyStatus, SongRow, finish_job_in
from studio.records.work import Lease, WorkKind, WorkStatus
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, check_id, generated_key
from studio.work import LeaseLost
from studio.work.queue import Ended, Run, handles, run_or_follow

__all__ = ["NEGATIVE_PROMPT", "ConsistencyResult", "character_seed", "consistent_prompt", "generate_now"]

log = logging.getLogger("studio.characters")

GENERATED = "character_generated"
STAGE = "consistency"


class ConsistencyResult(BaseModel):
    """How a consistency job ended (`character generate --json`)."""

    job_id: str
    song_id: str
    status: ConsistencyStatus
    reason: str
    generated_key: str | None = None
    look_id: str | None = None
    """The look the job's image became (the song's pick unless the creator had picked another)."""
    seed: int | None = None
    prompt: str | None = None
    interrogation: Interrogation | None = None
    cost: Decimal = Decimal("0")
    attempts: int = 0


def character_seed(song_id: str) -> int:
    """Same song, same seed: the generated character is reproducible."""
    return reference_seed(f"song:{song_id}", GENERATED)


def skip_reason(song: SongRow | None) -> str | None:
    """Why the job has nothing to do for this song, or None when it should run."""
    if song is None or not song.character_reference_key:
        return "no reference image: upload pose A first"
    if not song.character_consistency_enabled:
        return "character consistency is disabled for this song"
    if song.character_reference_source == "template":
        name = template_name(song.character_template_id)
        return f"the reference is the template {name}: templates are used as they are"
    return None


def _unit_name(source: str) -> str:
    return {"openai": "token", "replicate": "second"}.get(source, "call")


def _describe(error: BaseException) -> str:
    if isinstance(error, NotFound):
        return f"the reference image is missing from storage ({error})"
    if isinstance(error, StudioError):
        return str(error)
    return f"{type(error).__name__}: {error}"


async def fail_consistency(services: Services, lease: Lease, reason: str) -> bool:
    """The job could not be run: it ends failed with the reason (the uploaded reference stays usable)."""
    return await services.records.songs.finish(
        lease, ConsistencyStatus.FAILED, reason, work=WorkStatus.FAILED
    )


@handles(WorkKind.CONSISTENCY, fail=fail_consistency)
async def run_consistency(run: Run) -> Ended:
    """Run a claimed consistency job to completed, skipped or failed."""
    services, lease = run.services, run.lease
    songs = services.records.songs
    job = await asyncio.to_thread(songs.job, lease.subject)
    assert job is not None
    song = await asyncio.to_thread(songs.song, job.song_id)
    reason = skip_reason(song)
    if reason is not None or song is None or song.character_reference_key is None:
        done = await songs.finish(lease, ConsistencyStatus.SKIPPED, reason or "no reference image")
        return Ended.DONE if done else Ended.LOST
    try:
        return await _run(run, job, song, song.character_reference_key)
    except LeaseLost:
        return Ended.LOST


async def _run(run: Run, job: CharacterJob, song: SongRow, reference_key: str) -> Ended:
    services, lease, song_id = run.services, run.lease, job.song_id
    records = services.records
    log_step(
        log, "interrogating reference image", job_id=job.id, song_id=song_id, stage="interrogation",
        reference=reference_key, attempt=run.work.attempts,
    )  # fmt: skip
    try:
        reference = await asyncio.to_thread(services.storage.get, CHARACTER_BUCKET, reference_key)
        interrogation = await _interrogation(run, song, reference)
    except (GenerationError, NotFound) as error:
        done = await records.songs.finish(lease, ConsistencyStatus.FAILED, _describe(error))
        log.warning("Consistency job %s failed for song %s: %s", job.id, song_id, _describe(error))
        return Ended.DONE if done else Ended.LOST
    new = NewRound(
        song_id=song_id,
        origin="consistency",
        prompt=consistent_prompt(interrogation, edits_of(song)),
        negative_prompt=NEGATIVE_PROMPT,
        strength=DEFAULT_STRENGTH,
        seeds=(character_seed(song_id),),
        init_key=reference_key,
        reference_key=reference_key,
        model=song_model(song),
    )
    found = await records.db.run(lambda s: add_round_in(s, lease, new))
    paid = PaidCalls(run, Account(STAGE, song_id=song_id))
    made = await make_looks(run, paid, found)
    look = found.looks[0]
    picked = look.id in made and await publish_pick(
        services, song_id, look.id, made[look.id], by_creator=False
    )
    ended = await records.looks.around(found.round.id)
    assert ended is not None
    outcome, problem = round_outcome(ended)
    status = ConsistencyStatus.COMPLETED if outcome == RoundStatus.COMPLETED else ConsistencyStatus.FAILED
    if status == ConsistencyStatus.FAILED:
        problem = ended.looks[0].error or problem  # its one look's own words

    def finish(s: Session) -> bool:
        return end_round_in(s, lease, found.round.id, outcome, problem) and finish_job_in(
            s, lease, status, problem
        )

    if not await records.db.run(finish):
        return Ended.LOST
    if status == ConsistencyStatus.COMPLETED:
        log.info(
            "Consistency job %s completed for song %s%s",
            job.id,
            song_id,
            "" if picked else " (kept the pick)",
        )
    else:
        log.warning("Consistency job %s failed for song %s: %s", job.id, song_id, problem)
    return Ended.DONE


async def _interrogation(run: Run, song: SongRow, reference: bytes) -> Interrogation:
    """The song's interrogation made by this job's work already (a takeover), else a new one (charged to the
    song) kept on the song while the lease holds."""
    services, lease = run.services, run.lease
    made = await asyncio.to_thread(services.records.looks.of_work, lease.id)
    if made is not None and song.character_interrogation_json:
        return Interrogation.model_validate_json(song.character_interrogation_json)
    song_id = song.id

    def charge(source: str, model: str, amount: Decimal, units: Decimal, prediction_id: str | None) -> None:
        entry = LedgerEntry(
            stage="interrogation",
            provider=source,
            model=model,
            amount=amount,
            song_id=song_id,
            ref=GENERATED,
            units=units,
            unit_name=_unit_name(source),
            prediction_id=prediction_id,
            work_id=lease.id,
        )
        services.records.db.post(lambda s: charge_in(s, entry))

    def failed(interrogator: Interrogator, error: GenerationError) -> None:
        if error.charged or error.prediction_id:
            charge(interrogator.name, "failed call", error.charged, error.units, error.prediction_id)

    try:
        interrogation = await interrogate_with_fallback(
            services.interrogators, reference, sniff_content_type(reference), failed
        )
    except GenerationError as error:
        failed(services.interrogators[-1], error)
        raise
    charge(
        interrogation.source,
        interrogation.model,
        interrogation.cost,
        interrogation.units,
        interrogation.prediction_id,
    )
    if not await services.records.songs.record_interrogation(lease, song_id, interrogation.model_dump_json()):
        raise LeaseLost(lease.id)
    return interrogation


def result_of(services: Services, job_id: str) -> ConsistencyResult:
    """A consistency job as `character generate` reports it, read from the records."""
    records = services.records
    job = records.songs.job(job_id)
    if job is None:
        raise NotFound(f"consistency job {job_id}")
    song = records.songs.song(job.song_id)
    found = records.looks.of_work(job.work_id)
    look = found.looks[0] if found is not None and found.looks else None
    cost = sum((entry.amount for entry in records.ledger.entries(work_id=job.work_id)), Decimal("0"))
    interrogation = (
        Interrogation.model_validate_json(song.character_interrogation_json)
        if song is not None and song.character_interrogation_json and job.status != ConsistencyStatus.SKIPPED
        else None
    )
    completed = job.status == ConsistencyStatus.COMPLETED
    return ConsistencyResult(
        job_id=job.id,
        song_id=job.song_id,
        status=job.status,
        reason=job.error or ("consistency job completed" if completed else job.status.value),
        generated_key=generated_key(job.song_id) if completed else None,
        look_id=look.id if look is not None and completed else None,
        seed=look.seed if look is not None else None,
        prompt=look.prompt if look is not None else None,
        interrogation=interrogation,
        cost=cost,
        attempts=job.attempts,
    )


async def generate_now(services: Services, song_id: str) -> ConsistencyResult:
    """Run the song's consistency job in the foreground (`character generate`).

    Takes the song's open job when there is one (following another process that runs it); otherwise queues
    a fresh job, superseding any other, and runs that.
    """
    check_id("song_id", song_id)
    songs = services.records.songs
    job = await asyncio.to_thread(songs.open_job, song_id)
    if job is None:
        reason = "replaced by a foreground run (character generate)"
        fresh = await asyncio.to_thread(songs.requeue, song_id, reason, consistency_budget(services))
        job = await asyncio.to_thread(songs.job, fresh)
        assert job is not None
    await run_or_follow(services, job.work_id)
    return await asyncio.to_thread(result_of, services, job.id)
