"""The consistency job: interrogate a song's uploaded reference and generate a consistent character from it.

Steps: download the reference, interrogate it (with fallback), synthesize the seed's prompt from the
interrogation with the creator's edits (studio.characters.descriptions), generate (seeded, conditioned on the
reference where the backend accepts an input image), stamp the PNG parameters and store it as the first look
of a new round, which becomes the song's generated image unless the creator has picked another look. A
failure leaves the uploaded reference untouched and usable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from studio.characters.descriptions import consistent_prompt, edited, edits_of
from studio.characters.images import sniff_content_type
from studio.characters.paid_calls import SongLedger
from studio.characters.provenance import stamp_look
from studio.characters.songs import GENERATED, generated_key
from studio.errors import GenerationError, NotFound, StudioError
from studio.generation.base import DEFAULT_STRENGTH, GenerationRequest
from studio.generation.png_parameters import ensure_png
from studio.generation.seeds import reference_seed
from studio.interrogation.base import Interrogation, Interrogator
from studio.interrogation.chain import interrogate_with_fallback
from studio.logs import log_step
from studio.money import to_nanos
from studio.records.leases import Lease
from studio.records.looks import NewRound, RoundLooks, StoredLook
from studio.records.objects import ObjectCheck
from studio.records.schema import utcnow
from studio.records.songs import CharacterJobRow, SongRow
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, look_key
from studio.work import Heartbeat, LeaseLost

__all__ = [
    "NEGATIVE_PROMPT",
    "ConsistencyResult",
    "character_seed",
    "consistent_prompt",
    "run_consistency_job",
]

log = logging.getLogger("studio.characters")

NEGATIVE_PROMPT = "blurry, distorted, inconsistent, multiple characters, low quality, artifacts"
WIDTH, HEIGHT = 1024, 1024

JobOutcome = Literal["completed", "skipped", "failed", "superseded"]


class ConsistencyResult(BaseModel):
    """How one run of the consistency job ended."""

    job_id: str
    song_id: str
    status: JobOutcome
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
        return f"the reference is template {song.character_template_id}: templates are used as they are"
    return None


def _unit_name(source: str) -> str:
    return {"openai": "token", "replicate": "second"}.get(source, "call")


class _Run:
    """One claimed job: its lease, and the ledger lines it writes for the song."""

    def __init__(self, services: Services, lease: Lease, job: CharacterJobRow) -> None:
        self.services = services
        self.lease = lease
        self.job = job
        self.ledger = SongLedger(services, job.song_id, lease.epoch)

    async def finish(
        self,
        status: str,
        error: str | None = None,
        publish: Callable[[SongRow, RoundLooks | None], None] | None = None,
        look: tuple[NewRound, StoredLook] | None = None,
        checks: dict[str, ObjectCheck] | None = None,
    ) -> bool:
        await self.services.records.db.run(lambda _s: None)  # queued charges first
        return await asyncio.to_thread(
            self.services.records.songs.finish,
            self.lease,
            status,
            error=error,
            publish=publish,
            look=look,
            checks=checks,
        )

    def result(self, status: JobOutcome, reason: str, **values: object) -> ConsistencyResult:
        return ConsistencyResult(
            job_id=self.job.id,
            song_id=self.job.song_id,
            status=status,
            reason=reason,
            cost=self.ledger.cost,
            attempts=self.job.attempts,
            **values,
        )


async def run_consistency_job(services: Services, lease: Lease, job: CharacterJobRow) -> ConsistencyResult:
    """Run a job this process holds the lease of to completed, skipped or failed."""
    run = _Run(services, lease, job)
    song = await asyncio.to_thread(services.records.songs.song, job.song_id)
    reason = skip_reason(song)
    if reason is not None or song is None or song.character_reference_key is None:
        reason = reason or "no reference image"
        if not await run.finish("skipped", error=reason):
            return run.result("superseded", "the job was superseded before it ran")
        return run.result("skipped", reason)
    heartbeat = Heartbeat(
        lambda renew: services.records.songs.beat(lease, services.settings.lease_seconds if renew else None),
        services.settings.lease_seconds,
    )
    async with heartbeat:
        try:
            return await heartbeat.hold(_generate(run, song, song.character_reference_key))
        except LeaseLost:
            return run.result("superseded", "the job was superseded or taken over while it ran")


async def _generate(run: _Run, song: SongRow, reference_key: str) -> ConsistencyResult:
    services, song_id, ledger = run.services, run.job.song_id, run.ledger
    interrogation: Interrogation | None = None
    try:
        log_step(
            log,
            "interrogating reference image",
            job_id=run.job.id,
            song_id=song_id,
            stage="interrogation",
            reference=reference_key,
            attempt=run.job.attempts,
        )
        reference = await asyncio.to_thread(services.storage.get, CHARACTER_BUCKET, reference_key)

        def on_fallback(interrogator: Interrogator, error: GenerationError) -> None:
            ledger.charge_failure("interrogation", GENERATED, interrogator.name, error)

        try:
            interrogation = await interrogate_with_fallback(
                services.interrogators, reference, sniff_content_type(reference), on_fallback
            )
        except GenerationError as exc:
            last = services.interrogators[-1].name if services.interrogators else "none"
            ledger.charge_failure("interrogation", GENERATED, last, exc)
            raise
        ledger.charge(
            "interrogation",
            GENERATED,
            interrogation.source,
            interrogation.model,
            interrogation.cost,
            interrogation.units,
            _unit_name(interrogation.source),
            prediction_id=interrogation.prediction_id,
        )
        description = edited(interrogation, edits_of(song))
        request = GenerationRequest(
            prompt=consistent_prompt(description),
            negative_prompt=NEGATIVE_PROMPT,
            seed=character_seed(song_id),
            kind="character",
            subject=description.character_description,
            width=WIDTH,
            height=HEIGHT,
            init_image=reference,
            strength=DEFAULT_STRENGTH,
            label=f"song:{song_id}",
        )
        image = await ledger.generate("consistency", GENERATED, request)
        png = await asyncio.to_thread(ensure_png, image.data, image.content_type)
    except (StudioError, OSError) as exc:
        return await _fail(run, exc, interrogation)
    except Exception as exc:  # a bug must fail the job, not kill the worker
        log.exception("consistency job %s crashed", run.job.id)
        return await _fail(run, exc, interrogation)

    key = generated_key(song_id)
    model = services.generator.model_version
    new_round = NewRound(
        song_id=song_id,
        origin="consistency",
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        strength=DEFAULT_STRENGTH,
        seeds=(request.seed,),
        init_key=reference_key,
        reference_key=reference_key,
    )
    made: list[str] = []
    checks: dict[str, ObjectCheck] = {}

    def publish(song: SongRow, added: RoundLooks | None) -> None:
        assert added is not None
        look = added.looks[0]
        stamped = stamp_look(
            png, request, model, look_id=look.id, round_number=added.round.number, strength=DEFAULT_STRENGTH,
            parent=None,
        )  # fmt: skip
        services.storage.put(CHARACTER_BUCKET, look_key(song_id, look.id), stamped, "image/png")
        checks[look_key(song_id, look.id)] = ObjectCheck.of(stamped)
        if song.character_look_id == look.id:
            services.storage.put(CHARACTER_BUCKET, key, stamped, "image/png")
            checks[key] = checks[look_key(song_id, look.id)]
            song.character_generated_key = key
            song.character_generated_at = utcnow()
        song.character_interrogation_json = interrogation.model_dump_json() if interrogation else None
        made.append(look.id)

    stored = StoredLook(
        cost_nanos=to_nanos(image.cost),
        provider=image.provider,
        model_version=image.model,
        prediction_id=image.prediction_id,
    )
    if not await run.finish("completed", publish=publish, look=(new_round, stored), checks=checks):
        return run.result("superseded", "a newer upload or template replaced the reference while the job ran")
    log.info("Consistency job %s completed for song %s", run.job.id, song_id)
    return run.result(
        "completed",
        "consistency job completed",
        generated_key=key,
        look_id=made[0] if made else None,
        seed=request.seed,
        prompt=request.prompt,
        interrogation=interrogation,
    )


def _describe(error: BaseException) -> str:
    if isinstance(error, NotFound):
        return f"the reference image is missing from storage ({error})"
    if isinstance(error, StudioError):
        return str(error)
    return f"{type(error).__name__}: {error}"


async def _fail(run: _Run, error: BaseException, interrogation: Interrogation | None) -> ConsistencyResult:
    reason = _describe(error)

    def keep_interrogation(song: SongRow, _added: RoundLooks | None) -> None:
        if interrogation is not None:
            song.character_interrogation_json = interrogation.model_dump_json()

    if not await run.finish("failed", error=reason, publish=keep_interrogation):
        return run.result("superseded", "the job was superseded while it ran")
    log.warning("Consistency job %s failed for song %s: %s", run.job.id, run.job.song_id, reason)
    return run.result("failed", reason, interrogation=interrogation)
