"""Paid calls made for a song (the consistency job, rounds of looks): recorded, adopted and charged once.

A prediction's id is recorded the moment the provider gives it, so whoever takes the work over adopts it
instead of paying again; every charge names the song, so its costs add up per song in the ledger.
"""

from __future__ import annotations

from decimal import Decimal

from studio.errors import GenerationError
from studio.generation.base import GeneratedImage, GenerationRequest
from studio.generation.retry import with_retries
from studio.records.ledger import LedgerEntry
from studio.services import Services


class SongLedger:
    """The ledger lines of one unit of a song's work (queued for the records' thread), and their sum."""

    def __init__(self, services: Services, song_id: str, epoch: int) -> None:
        self.services = services
        self.song_id = song_id
        self.epoch = epoch
        self.cost = Decimal("0")

    def charge(
        self,
        stage: str,
        ref: str,
        provider: str,
        model: str,
        amount: Decimal,
        units: Decimal,
        unit_name: str,
        unit_price: Decimal = Decimal("0"),
        prediction_id: str | None = None,
    ) -> None:
        """Queue one ledger line (one charge per prediction id)."""
        self.cost += amount
        records = self.services.records
        records.db.post(
            records.ledger.add_op(
                LedgerEntry(
                    stage=stage,
                    provider=provider,
                    model=model,
                    amount=amount,
                    song_id=self.song_id,
                    ref=ref,
                    units=units,
                    unit_name=unit_name,
                    unit_price=unit_price,
                    prediction_id=prediction_id,
                )
            )
        )

    def charge_failure(self, stage: str, ref: str, provider: str, error: GenerationError) -> None:
        """What a failed call still cost, when it cost anything."""
        if error.charged or error.prediction_id:
            unit = "second" if error.units else "call"
            self.charge(
                stage, ref, provider, "failed call", error.charged, error.units, unit,
                prediction_id=error.prediction_id,
            )  # fmt: skip

    def record_prediction(self, ref: str, prediction_id: str) -> None:
        records = self.services.records
        records.db.post(
            records.ledger.record_prediction_op(
                prediction_id, self.services.generator.name, ref, song_id=self.song_id, epoch=self.epoch
            )
        )

    async def open_predictions(self) -> dict[str, list[str]]:
        """The song's predictions recorded and never used, by ref: what a taken-over unit adopts."""
        found: dict[str, list[str]] = {}
        for prediction in await self.services.records.ledger.open_predictions(song_id=self.song_id):
            found.setdefault(prediction.ref, []).append(prediction.id)
        return found

    async def generate(
        self, stage: str, ref: str, request: GenerationRequest, adopt: list[str] | None = None
    ) -> GeneratedImage:
        """One image for `ref`, with retries: a prediction recorded for it and never used (`adopt`, looked
        up when not given) is adopted first. Every attempt is charged what it cost; GenerationError when none
        succeeded."""
        services, generator = self.services, self.services.generator
        adopted = list((await self.open_predictions()).get(ref, []) if adopt is None else adopt)

        async def attempt() -> GeneratedImage:
            if adopted:
                return await (await generator.adopt(adopted.pop(0), request)).fetch()
            return await generator.generate(request, lambda pid: self.record_prediction(ref, pid))

        def failed(error: GenerationError) -> None:
            self.charge_failure(stage, ref, generator.name, error)
            if error.prediction_id:
                services.records.db.post(services.records.ledger.mark_used_op([error.prediction_id]))

        try:
            image = await with_retries(
                attempt,
                attempts=services.settings.retry_attempts,
                backoff=services.settings.retry_backoff,
                on_retry=lambda _attempt, error, _wait: failed(error),
            )
        except GenerationError as exc:
            failed(exc)
            raise
        self.charge(
            stage,
            ref,
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
        return image
