"""The consistency job: interrogate a song's uploaded reference and generate a consistent character from it.

Steps: download the reference, interrogate it (with fallback), synthesize the seed's prompt, generate (seeded,
conditioned on the reference where the backend accepts an input image), stamp the PNG parameters, store it
and set the generated key. A failure leaves the uploaded reference untouched and usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

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
from studio.records.leases import Lease
from studio.records.ledger import LedgerEntry
from studio.records.objects import ObjectCheck
from studio.records.schema import utcnow
from studio.records.songs import CharacterJobRow, SongRow
from studio.seeding import reference_seed
from studio.services import Services
from studio.work import Heartbeat

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
    """One claimed job: its lease, the ledger entries it writes."""

    def __init__(self, services: Services, lease: Lease, job: CharacterJobRow) -> None:
        self.services = services
        self.lease = lease
        self.job = job
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
        """Queue the ledger line (the records' thread writes it; one charge per prediction id)."""
        self.cost += amount
        records = self.services.records
        records.db.post(
            records.ledger.add_op(
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
        )

    def charge_failure(self, stage: str, provider: str, error: GenerationError) -> None:
        if error.charged or error.prediction_id:
            unit = "second" if error.units else "call"
            self.charge(
                stage,
                provider,
                "failed call",
                error.charged,
                error.units,
                unit,
                prediction_id=error.prediction_id,
            )

    def record_prediction(self, prediction_id: str) -> None:
        records = self.services.records
        records.db.post(
            records.ledger.record_prediction_op(
                prediction_id,
                self.services.generator.name,
                GENERATED,
                song_id=self.job.song_id,
                epoch=self.lease.epoch,
            )
        )

    async def finish(
        self,
        status: str,
        error: str | None = None,
        publish: Callable[[SongRow], None] | None = None,
        checks: dict[str, ObjectCheck] | None = None,
    ) -> bool:
        await self.services.records.db.run(lambda _s: None)  # queued charges first
        return await asyncio.to_thread(
            self.services.records.songs.finish,
            self.lease,
            status,
            error=error,
            publish=publish,
            checks=checks,
        )

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
        work = asyncio.ensure_future(_generate(run, song.character_reference_key))
        lost = asyncio.ensure_future(heartbeat.lost.wait())
        await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            return run.result("superseded", "the job was superseded or taken over while it ran")
        return work.result()


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
            prediction_id=interrogation.prediction_id,
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
        adopted = [
            p.id
            for p in await services.records.ledger.open_predictions(song_id=song_id)
            if p.ref == GENERATED
        ]

        async def attempt() -> GeneratedImage:
            if adopted:
                return await (await generator.adopt(adopted.pop(0), request)).fetch()
            return await generator.generate(request, run.record_prediction)

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
        if image.prediction_id:
            services.records.db.post(services.records.ledger.mark_used_op([image.prediction_id]))
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
        return await _fail(run, exc, interrogation)
    except Exception as exc:  # a bug must fail the job, not kill the worker
        log.exception("consistency job %s crashed", run.job.id)
        return await _fail(run, exc, interrogation)

    key = generated_key(song_id)

    def publish(song: SongRow) -> None:
        services.storage.put(CHARACTER_BUCKET, key, png, "image/png")
        song.character_generated_key = key
        song.character_generated_at = utcnow()
        song.character_interrogation_json = interrogation.model_dump_json() if interrogation else None

    if not await run.finish("completed", publish=publish, checks={key: ObjectCheck.of(png)}):
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


async def _fail(run: _Run, error: BaseException, interrogation: Interrogation | None) -> ConsistencyResult:
    reason = _describe(error)

    def keep_interrogation(song: SongRow) -> None:
        if interrogation is not None:
            song.character_interrogation_json = interrogation.model_dump_json()

    if not await run.finish("failed", error=reason, publish=keep_interrogation):
        return run.result("superseded", "the job was superseded while it ran")
    log.warning("Consistency job %s failed for song %s: %s", run.job.id, run.job.song_id, reason)
    return run.result("failed", reason, interrogation=interrogation)
