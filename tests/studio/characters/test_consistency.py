"""The consistency job: completed, skipped and failed, what it stores, charges and keeps."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from studio.characters.consistency import NEGATIVE_PROMPT, character_seed, consistent_prompt, generate_now
from studio.characters.priority import resolve
from studio.characters.songs import apply_template, set_consistency_enabled, upload_character_image
from studio.errors import GenerationError
from studio.generation.png_parameters import parse_parameters, read_parameters
from studio.interrogation.base import Interrogation
from studio.records.objects import ObjectCheck
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET
from tests.fakes import ScriptedGenerator, fatal
from tests.studio.characters import samples
from tests.studio.characters.conftest import song, stored

GENERATED = "songs/demo-song/character_generated.png"


class ScriptedInterrogator:
    """An Interrogator answering a fixed description, or failing with a charge; records what it saw."""

    def __init__(self, name: str = "scripted", error: GenerationError | None = None) -> None:
        self.name = name
        self.error = error
        self.history: list[tuple[bytes, str]] = []

    async def interrogate(self, image: bytes, content_type: str) -> Interrogation:
        self.history.append((image, content_type))
        if self.error is not None:
            raise self.error
        return Interrogation(
            prompt="portrait of a courier in a yellow raincoat.",
            character_description="A young courier with short black hair and a yellow raincoat.",
            style_notes="flat colours, bold outlines.",
            source="openai",
            model="gpt-test",
            cost=Decimal("0.00042"),
            units=Decimal("1200"),
        )


def with_backends(services: Services, **backends: object) -> Services:
    return dataclasses.replace(services, **backends)  # type: ignore[arg-type]


def test_prompt_puts_identity_before_style_and_quality_words_last() -> None:
    interrogation = asyncio.run(ScriptedInterrogator().interrogate(b"", "image/png"))
    assert consistent_prompt(interrogation) == (
        "a young courier with short black hair and a yellow raincoat, "
        "portrait of a courier in a yellow raincoat, "
        "flat colours, bold outlines, "
        "high quality, detailed, consistent character design, clear features, professional illustration"
    )
    assert NEGATIVE_PROMPT == "blurry, distorted, inconsistent, multiple characters, low quality, artifacts"


def test_completed_job_stores_a_stamped_png_sets_the_key_and_charges_the_ledger(services: Services) -> None:
    generator, interrogator = ScriptedGenerator(cost=Decimal("0.0115")), ScriptedInterrogator()
    run = with_backends(services, generator=generator, interrogators=[interrogator])
    upload = upload_character_image(run, "demo-song", samples.jpeg())
    result = asyncio.run(generate_now(run, "demo-song"))
    assert (result.status, result.job_id, result.generated_key) == ("completed", upload.job_id, GENERATED)
    reference = services.storage.get(CHARACTER_BUCKET, upload.key)
    assert interrogator.history == [(reference, "image/jpeg")]
    [request] = generator.history
    assert request.kind == "character" and request.init_image == reference
    assert request.seed == character_seed("demo-song") == result.seed
    assert request.negative_prompt == NEGATIVE_PROMPT
    png = services.storage.get(CHARACTER_BUCKET, GENERATED)
    assert services.storage.content_type(CHARACTER_BUCKET, GENERATED) == "image/png"  # type: ignore[attr-defined]
    parameters = parse_parameters(read_parameters(png) or "")
    assert parameters["prompt"] == request.prompt and parameters["Seed"] == str(request.seed)
    assert parameters["negative_prompt"] == NEGATIVE_PROMPT and parameters["Model"] == "scripted-1"
    row = song(services)
    assert row.character_generated_key == GENERATED and row.character_generated_at is not None
    assert services.records.objects.checks(CHARACTER_BUCKET, [GENERATED]) == {GENERATED: ObjectCheck.of(png)}
    assert Interrogation.model_validate_json(row.character_interrogation_json or "").model == "gpt-test"
    ledger = services.records.ledger.entries(song_id="demo-song")
    assert [(e.stage, e.provider, e.amount, e.units, e.unit_name) for e in ledger] == [
        ("interrogation", "openai", Decimal("0.00042"), Decimal("1200"), "token"),
        ("consistency", "scripted", Decimal("0.0115"), Decimal("0"), "image"),
    ]
    assert result.cost == Decimal("0.01192")
    assert services.records.songs.job(result.job_id).status == "completed"  # type: ignore[union-attr]


def test_default_backends_complete_offline(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    result = asyncio.run(generate_now(services, "demo-song"))
    assert result.status == "completed" and result.interrogation and result.interrogation.source == "local"
    assert samples.decode(services.storage.get(CHARACTER_BUCKET, GENERATED)).format == "PNG"


def test_failed_generation_keeps_the_reference_usable(services: Services) -> None:
    charged = GenerationError(
        "model refused the image", retryable=False, charged=Decimal("0.003"), reason="nsfw"
    )
    run = with_backends(
        services,
        generator=ScriptedGenerator(fail_when=lambda request: charged),
        interrogators=[ScriptedInterrogator()],
    )
    upload = upload_character_image(run, "demo-song", samples.png())
    result = asyncio.run(generate_now(run, "demo-song"))
    assert result.status == "failed" and result.reason == "model refused the image"
    job = services.records.songs.job(result.job_id)
    assert job is not None and job.status == "failed" and job.error == "model refused the image"
    row = song(services)
    assert row.character_generated_key is None and row.character_interrogation_json  # interrogation kept
    assert GENERATED not in stored(services)
    resolved = resolve(services, "demo-song")
    assert resolved.primary is not None and resolved.primary.key == upload.key
    assert resolved.primary.reason == (
        "generated image missing: the consistency job failed: model refused the image; "
        "falling back to the uploaded reference"
    )
    stages = [(e.stage, e.amount) for e in services.records.ledger.entries(song_id="demo-song")]
    assert stages == [("interrogation", Decimal("0.00042")), ("consistency", Decimal("0.003"))]


def test_retryable_errors_are_retried_then_succeed(services: Services) -> None:
    generator = ScriptedGenerator(
        script={"song:demo-song:r1-1": [GenerationError("busy", retryable=True, reason="rate")]}
    )
    run = with_backends(services, generator=generator)
    upload_character_image(run, "demo-song", samples.png())
    assert asyncio.run(generate_now(run, "demo-song")).status == "completed"
    assert len(generator.history) == 2


def test_failing_interrogators_fall_back_and_charge_each_failure(services: Services) -> None:
    broken = ScriptedInterrogator(
        "openai", GenerationError("bad gateway", retryable=True, charged=Decimal("0.001"))
    )
    run = with_backends(services, interrogators=[broken, ScriptedInterrogator("replicate")])
    upload_character_image(run, "demo-song", samples.png())
    assert asyncio.run(generate_now(run, "demo-song")).status == "completed"
    assert [(e.stage, e.provider) for e in services.records.ledger.entries(song_id="demo-song")][:2] == [
        ("interrogation", "openai"),
        ("interrogation", "openai"),
    ]


def test_no_interrogator_answers_so_the_job_fails(services: Services) -> None:
    run = with_backends(services, interrogators=[ScriptedInterrogator("openai", fatal("auth"))])
    upload_character_image(run, "demo-song", samples.png())
    result = asyncio.run(generate_now(run, "demo-song"))
    assert result.status == "failed" and result.reason == "scripted auth"
    assert resolve(services, "demo-song").primary is not None


@pytest.mark.parametrize("setup", ["no reference", "template", "disabled", "pose b only"])
def test_skipped_when_there_is_nothing_to_make(services: Services, setup: str) -> None:
    if setup == "template":
        apply_template(services, "demo-song", "character-4")
    elif setup == "disabled":
        upload_character_image(services, "demo-song", samples.png())
        set_consistency_enabled(services, "demo-song", False)
    elif setup == "pose b only":
        upload_character_image(services, "demo-song", samples.png(), pose="B")
    generator = ScriptedGenerator()
    result = asyncio.run(generate_now(with_backends(services, generator=generator), "demo-song"))
    assert result.status == "skipped" and generator.history == []
    expected = {
        "no reference": "no reference image",
        "pose b only": "no reference image",
        "template": "the template Minimalist Character",
        "disabled": "disabled",
    }[setup]
    assert expected in result.reason
    assert services.records.songs.job(result.job_id).status == "skipped"  # type: ignore[union-attr]


def test_a_job_superseded_while_it_runs_publishes_nothing(services: Services) -> None:
    def replace_reference_midway(request: object) -> None:
        upload_character_image(services, "demo-song", samples.webp())

    run = with_backends(services, generator=ScriptedGenerator(fail_when=replace_reference_midway))
    first = upload_character_image(run, "demo-song", samples.png())
    result = asyncio.run(generate_now(run, "demo-song"))
    assert result.status == "superseded" and result.job_id == first.job_id
    assert song(services).character_generated_key is None
    assert stored(services) == ["songs/demo-song/character_reference.webp"]
    statuses = [job.status for job in services.records.songs.jobs("demo-song")]
    assert statuses == ["superseded", "queued"]
