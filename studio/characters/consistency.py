"""The consistency job: interrogate a song's uploaded reference and generate a consistent character from it.

Steps: download the reference, interrogate it (with fallback), synthesize the seed's prompt, generate (seeded,
conditioned on the reference where the backend accepts an input image), stamp the PNG parameters, store it
and set the generated key. A failure leaves the uploaded reference untouched and usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from studio.characters.images import sniff_content_type
from studio.characters.songs import GENERATED, generated_key
from studio.errors import GenerationError, NotFound, StudioError
from studio.generation.base import GeneratedImage, GenerationRequest
from studio.generation.retry import with_retries
from studio.interrogation.base import Interrogation, Interrogator
from studio.interrogation.chain import interrogate_with_fallback
from studio.keys import CHARACTER_BUCKET
from studio.logs import log_step
from studio.png_parameters import embed_parameters, ensure_png, format_parameters
from studio.records.schema import utcnow
from studio.records.songs import CharacterJobRow, SongRecords, SongRow
from studio.records.store import LedgerEntry
from studio.seeding import reference_seed
from studio.services import Services

log = logging.getLogger("studio.characters")

NEGATIVE_PROMPT = "blurry, distorted, inconsistent, multiple characters, low quality, artifacts"
PROMPT_TEMPLATE = (
    "{prompt}. {character_description} Style: {style_notes}. High quality, detailed, "
    "consistent character design, clear features, professional illustration"
)
WIDTH, HEIGHT = 1024, 1024

JobOutcome = Literal["completed", "skipped", "failed", "superseded"]


class ConsistencyResult(BaseModel):
    """How one run of the consistency job ended."""

    job_id: str
    song_id: str
    status: JobOutcome
    reason: str
    generated_key: str | None = None
    seed: int | None = None
    prompt: str | None = None
    interrogation: Interrogation | None = None
    cost: Decimal = Decimal("0")
    attempts: int = 0


def consistent_prompt(interrogation: Interrogation) -> str:
    """The seed's consistent-character prompt from an interrogation."""
    return PROMPT_TEMPLATE.format(
        prompt=interrogation.prompt.strip().rstrip("."),
        character_description=interrogation.character_description.strip(),
        style_notes=interrogation.style_notes.strip().rstrip("."),
    )


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
    """One claimed job: its claim token, the ledger entries it writes, its heartbeat."""

    def __init__(self, services: Services, job: CharacterJobRow, lease_seconds: float) -> None:
        self.services = services
        self.store = SongRecords(services.records)
        self.job = job
        self.token = job.claim_token or ""
        self.lease_seconds = lease_seconds
        self.cost = Decimal("0")

    def charge(
        self,
        stage: str,
        provider: str,
        model: str,
        amount: Decimal,
        units: Decimal,
        unit_name: str,
        unit_price: Decimal = Decimal("0"),
        prediction_id: str | None = None,
    ) -> None:
        self.cost += amount
        self.services.records.add_ledger(
            LedgerEntry(
                stage=stage,
                provider=provider,
                model=model,
                amount=amount,
                song_id=self.job.song_id,
                ref=GENERATED,
                units=units,
                unit_name=unit_name,
                unit_price=unit_price,
                prediction_id=prediction_id,
            )
        )

    def charge_failure(self, stage: str, provider: str, error: GenerationError) -> None:
        if error.charged:
            self.charge(stage, provider, "failed call", error.charged, Decimal("0"), "call")

    async def heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not await asyncio.to_thread(
                self.store.extend_lease, self.job.id, self.token, self.lease_seconds
            ):
                return

    def result(self, status: JobOutcome, reason: str, **values: object) -> ConsistencyResult:
        return ConsistencyResult(
            job_id=self.job.id,
            song_id=self.job.song_id,
            status=status,
            reason=reason,
            cost=self.cost,
            attempts=self.job.attempts,
            **values,
        )


async def run_consistency_job(
    services: Services, job: CharacterJobRow, lease_seconds: float
) -> ConsistencyResult:
    """Run a job this worker has claimed (`job.claim_token`) to completed, skipped or failed."""
    run = _Run(services, job, lease_seconds)
    song = run.store.song(job.song_id)
    reason = skip_reason(song)
    if reason is not None or song is None or song.character_reference_key is None:
        reason = reason or "no reference image"
        if not run.store.finish(job.id, run.token, "skipped", error=reason):
            return run.result("superseded", "the job was superseded before it ran")
        return run.result("skipped", reason)
    heartbeat = asyncio.create_task(run.heartbeat())
    try:
        return await _generate(run, song.character_reference_key)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat


async def _generate(run: _Run, reference_key: str) -> ConsistencyResult:
    services, song_id = run.services, run.job.song_id
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
            run.charge_failure("interrogation", interrogator.name, error)

        try:
            interrogation = await interrogate_with_fallback(
                services.interrogators, reference, sniff_content_type(reference), on_fallback
            )
        except GenerationError as exc:
            last = services.interrogators[-1].name if services.interrogators else "none"
            run.charge_failure("interrogation", last, exc)
            raise
        run.charge(
            "interrogation",
            interrogation.source,
            interrogation.model,
            interrogation.cost,
            interrogation.units,
            _unit_name(interrogation.source),
        )
        request = GenerationRequest(
            prompt=consistent_prompt(interrogation),
            negative_prompt=NEGATIVE_PROMPT,
            seed=character_seed(song_id),
            kind="character",
            subject=interrogation.character_description,
            width=WIDTH,
            height=HEIGHT,
            init_image=reference,
            label=f"song:{song_id}",
        )
        generator = services.generator

        async def attempt() -> GeneratedImage:
            return await generator.generate(request)

        try:
            image = await with_retries(
                attempt,
                attempts=services.settings.retry_attempts,
                backoff=services.settings.retry_backoff,
            )
        except GenerationError as exc:
            run.charge_failure("consistency", generator.name, exc)
            raise
        run.charge(
            "consistency",
            image.provider,
            image.model,
            image.cost,
            image.units,
            "second" if image.units else "image",
            image.unit_price,
            image.prediction_id,
        )
        parameters = format_parameters(
            request.prompt,
            request.negative_prompt,
            request.steps,
            request.scheduler,
            request.guidance_scale,
            request.seed,
            request.width,
            request.height,
            generator.model_version,
        )
        png = embed_parameters(
            await asyncio.to_thread(ensure_png, image.data, image.content_type), parameters
        )
    except (StudioError, OSError) as exc:
        return _fail(run, exc, interrogation)
    except Exception as exc:  # a bug must fail the job, not kill the worker
        log.exception("consistency job %s crashed", run.job.id)
        return _fail(run, exc, interrogation)

    key = generated_key(song_id)

    def publish(s: Session) -> None:
        services.storage.put(CHARACTER_BUCKET, key, png, "image/png")
        song = run.store.song_in(s, song_id)
        song.character_generated_key = key
        song.character_generated_at = utcnow()
        song.character_interrogation_json = interrogation.model_dump_json() if interrogation else None

    if not run.store.finish(run.job.id, run.token, "completed", publish=publish):
        return run.result("superseded", "a newer upload or template replaced the reference while the job ran")
    log.info("Consistency job %s completed for song %s", run.job.id, song_id)
    return run.result(
        "completed",
        "consistency job completed",
        generated_key=key,
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


def _fail(run: _Run, error: BaseException, interrogation: Interrogation | None) -> ConsistencyResult:
    reason = _describe(error)

    def keep_interrogation(s: Session) -> None:
        if interrogation is not None:
            run.store.song_in(
                s, run.job.song_id
            ).character_interrogation_json = interrogation.model_dump_json()

    if not run.store.finish(run.job.id, run.token, "failed", error=reason, publish=keep_interrogation):
        return run.result("superseded", "the job was superseded while it ran")
    log.warning("Consistency job %s failed for song %s: %s", run.job.id, run.job.song_id, reason)
    return run.result("failed", reason, interrogation=interrogation)
