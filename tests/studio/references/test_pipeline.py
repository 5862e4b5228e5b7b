"""The reference pipeline on local storage, with the local renderer or a scripted generator."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from studio.errors import InvalidInput
from studio.plans.scene_plan import ScenePlan, load_plan
from studio.records.objects import ObjectCheck
from studio.references.events import Event
from studio.references.jobs import generate_references
from studio.references.planning import ReferenceOverride
from studio.references.result import run_summary
from studio.services import Services
from studio.settings import Settings
from studio.storage.keys import REFERENCE_BUCKET
from tests.conftest import PLANS_DIR
from tests.fakes import ScriptedGenerator, fatal, retryable


@pytest.fixture
def music_video() -> ScenePlan:
    return load_plan(PLANS_DIR / "music-video.json")


@pytest.fixture
def road_trip() -> ScenePlan:
    return load_plan(PLANS_DIR / "road-trip-32.json")


def with_generator(services: Services, generator: ScriptedGenerator) -> Services:
    return dataclasses.replace(services, generator=generator)


def run(services: Services, plan: ScenePlan, **kwargs: object):  # type: ignore[no-untyped-def]
    return asyncio.run(generate_references(services, plan.job_id, plan, **kwargs))  # type: ignore[arg-type]


def test_local_run_stores_every_reference_with_parameters(services: Services, music_video: ScenePlan) -> None:
    result = run(services, music_video)
    assert result is not None and result.status == "success"
    assert [r.scene_id for r in result.scene_references] == ["alley", "rooftops", "subway", "diner"]
    assert [r.character_id for r in result.character_references] == ["runner", "stranger"]
    assert result.total_references == 6 and result.total_cost == Decimal("0")
    assert result.metadata.dimensions == "1024x1024" and result.metadata.format == "PNG"
    for ref in [*result.scene_references, *result.character_references]:
        data = services.storage.get(REFERENCE_BUCKET, ref.storage_key)
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and image.size == (1024, 1024)
        parameters = image.text["parameters"]
        assert parameters.startswith(ref.prompt_used + "\nNegative prompt: " + ref.negative_prompt)
        assert f"Seed: {ref.seed}," in parameters and "Size: 1024x1024" in parameters
    rows = services.records.references.of_job(str(music_video.job_id))
    assert {row.status for row in rows.values()} == {"stored"}
    assert rows["scene_alley"].storage_key == f"{music_video.job_id}/scene_alley.png"


def test_total_generation_time_is_wall_clock(services: Services, music_video: ScenePlan) -> None:
    fake = ScriptedGenerator(latency=0.2)
    result = run(with_generator(services, fake), music_video)
    assert result is not None
    per_image = sum(r.generation_time for r in [*result.scene_references, *result.character_references])
    assert result.total_generation_time < per_image / 2
    assert result.total_generation_time >= 0.2


def test_concurrency_limit_is_honoured_and_used(services: Services, road_trip: ScenePlan) -> None:
    fake = ScriptedGenerator(latency=0.02)
    result = run(with_generator(services, fake), road_trip, concurrency=4)
    assert result is not None and result.total_references == 32
    assert fake.max_in_flight == 4


def test_retryable_error_is_retried_once_and_recovers(services: Services, music_video: ScenePlan) -> None:
    events: list[Event] = []
    fake = ScriptedGenerator(script={"scene_alley": [retryable(retry_after=0.05)]})
    result = run(with_generator(services, fake), music_video, on_event=events.append)
    assert result is not None and result.status == "success"
    assert fake.calls_for("scene_alley") == 2
    retries = [e for e in events if e.type == "reference_generation_retry"]
    assert len(retries) == 1 and retries[0].data["ref"] == "scene_alley"
    assert retries[0].data["wait_seconds"] >= 0.05
    assert services.records.references.of_job(str(music_video.job_id))["scene_alley"].attempts == 2


def test_non_retryable_error_fails_at_once_without_stopping_others(
    services: Services, music_video: ScenePlan
) -> None:
    fake = ScriptedGenerator(script={"scene_subway": [fatal()]})
    result = run(with_generator(services, fake), music_video)
    assert result is not None and result.status == "partial"
    assert fake.calls_for("scene_subway") == 1
    assert len(fake.history) == 6
    row = services.records.references.of_job(str(music_video.job_id))["scene_subway"]
    assert row.status == "failed" and "invalid_input" in (row.error or "")


def test_rate_limits_are_waited_out_without_using_up_retries(
    services: Services, music_video: ScenePlan
) -> None:
    limited = [retryable("rate_limited", retry_after=0.05) for _ in range(3)]
    fake = ScriptedGenerator(script={"scene_alley": [*limited, None]})
    result = run(with_generator(services, fake), music_video)
    assert result is not None and result.status == "success"
    assert fake.calls_for("scene_alley") == 4
    assert services.records.references.of_job(str(music_video.job_id))["scene_alley"].attempts == 1
    assert result.rate_limit_wait_seconds >= 0.15
    assert "for the provider's rate limit" in run_summary(result)


def test_a_rate_limit_that_never_lifts_fails_the_image_at_its_deadline(
    data_dir: Path, services: Services, music_video: ScenePlan
) -> None:
    short = dataclasses.replace(
        services, settings=Settings(data_dir=data_dir, reference_gen_timeout=0.3, retry_backoff=0.01)
    )
    fake = ScriptedGenerator(
        fail_when=lambda r: retryable("rate_limited", 0.05) if r.label == "scene_alley" else None
    )
    result = run(with_generator(short, fake), music_video)
    assert result is not None and result.status == "partial"
    row = services.records.references.of_job(str(music_video.job_id))["scene_alley"]
    assert (row.status, row.failure_reason) == ("failed", "rate_limited")
    assert "rate limit held this call past its deadline" in (row.error or "")
    assert 2 <= fake.calls_for("scene_alley") <= 8, "tried again while the deadline allowed, then stopped"


def test_two_attempts_in_total_by_default(services: Services, music_video: ScenePlan) -> None:
    fake = ScriptedGenerator(script={"scene_diner": [retryable(), retryable(), None]})
    result = run(with_generator(services, fake), music_video)
    assert result is not None and result.status == "partial"
    assert fake.calls_for("scene_diner") == 2


def test_budget_is_never_overshot_by_32_concurrent_workers(
    data_dir: Path, services: Services, road_trip: ScenePlan
) -> None:
    tight = dataclasses.replace(
        services, settings=Settings(data_dir=data_dir, default_job_budget=Decimal("0.05"), retry_backoff=0.01)
    )
    fake = ScriptedGenerator(cost=Decimal("0.004"), ceiling=Decimal("0.01"), latency=0.01)
    events: list[Event] = []
    run(with_generator(tight, fake), road_trip, concurrency=32, on_event=events.append)
    job = services.records.jobs.get(str(road_trip.job_id))
    assert job is not None
    assert job.spent_nanos <= job.budget_nanos
    assert services.records.ledger.total(str(road_trip.job_id)) == Decimal(job.spent_nanos) / 10**9
    assert len(fake.history) >= 5
    refused = [e for e in events if e.type == "reference_generation_failed"]
    assert refused and all(e.data["reason"] == "budget_exceeded" for e in refused)
    assert all(e.data["attempts"] == 1 for e in refused), "over budget is never retried"


def test_budget_from_duration_is_200_dollars_a_minute(services: Services, music_video: ScenePlan) -> None:
    run(services, music_video, duration_seconds=90)
    job = services.records.jobs.get(str(music_video.job_id))
    assert job is not None and job.budget_nanos == 300 * 10**9


@pytest.mark.parametrize(
    ("failing", "expected"),
    [
        (set(), "success"),
        ({"scene_alley"}, "partial"),
        ({"scene_alley", "scene_rooftops", "character_stranger"}, "partial"),  # exactly 50 %
        ({"scene_alley", "scene_rooftops", "scene_subway", "character_stranger"}, None),  # < 50 %
        ({"scene_alley", "scene_rooftops", "scene_subway", "scene_diner"}, None),  # no scene
        ({"character_runner", "character_stranger"}, None),  # no character
        (
            {
                "scene_alley",
                "scene_rooftops",
                "scene_subway",
                "scene_diner",
                "character_runner",
                "character_stranger",
            },
            None,
        ),
    ],
)
def test_partial_success_rule(
    services: Services, music_video: ScenePlan, failing: set[str], expected: str | None
) -> None:
    fake = ScriptedGenerator(fail_when=lambda request: fatal() if request.label in failing else None)
    result = run(with_generator(services, fake), music_video)
    job = services.records.jobs.get(str(music_video.job_id))
    assert job is not None
    if expected is None:
        assert result is None
        assert job.status == "failed"
        expected_reason = "no_generation_results" if len(failing) == 6 else "threshold_not_met"
        assert job.failure_reason == expected_reason
    else:
        assert result is not None and result.status == expected
        assert result.total_references == 6 - len(failing)


def test_resume_reuses_identical_references_at_no_cost(services: Services, music_video: ScenePlan) -> None:
    fake = ScriptedGenerator(script={"character_runner": [fatal()]})
    first = run(with_generator(services, fake), music_video)
    assert first is not None and first.status == "partial"
    assert len(fake.history) == 6
    second = run(with_generator(services, fake), music_video)
    assert second is not None and second.status == "success"
    assert [r.label for r in fake.history[6:]] == ["character_runner"], (
        "only the failed one is requested again"
    )
    assert second.total_cost == Decimal("0.01")
    reused = [r for r in [*second.scene_references, *second.character_references] if r.reused]
    assert len(reused) == 5 and all(r.cost == 0 for r in reused)
    hits = [e for e in services.records.ledger.entries(job_id=str(music_video.job_id)) if e.cache_hit]
    assert not hits, "the five the first run handed over are kept: not bought again, and no saving either"
    third = run(with_generator(services, fake), music_video)
    assert third is not None and third.total_cost == 0 and len(fake.history) == 7


def test_edited_prompt_or_seed_regenerates_only_that_reference(
    services: Services, music_video: ScenePlan
) -> None:
    fake = ScriptedGenerator()
    run(with_generator(services, fake), music_video)
    overrides = {
        "scene_diner": ReferenceOverride(prompt="A diner at dawn, chrome stools"),
        "character_runner": ReferenceOverride(seed=42),
    }
    run(with_generator(services, fake), music_video, overrides=overrides)
    again = fake.history[6:]
    assert sorted(r.label for r in again) == ["character_runner", "scene_diner"]
    by_label = {r.label: r for r in again}
    assert by_label["character_runner"].seed == 42
    assert by_label["scene_diner"].prompt == "A diner at dawn, chrome stools"


def test_seeds_are_deterministic_per_job_and_reference(services: Services, music_video: ScenePlan) -> None:
    first, second = ScriptedGenerator(), ScriptedGenerator()
    run(with_generator(services, first), music_video)
    services.storage.delete(REFERENCE_BUCKET, services.storage.list(REFERENCE_BUCKET))
    run(with_generator(services, second), music_video)
    seeds = {r.label: r.seed for r in first.history}
    assert seeds == {r.label: r.seed for r in second.history}
    assert len(set(seeds.values())) == 6


def test_a_reference_missing_from_storage_is_generated_again(
    services: Services, music_video: ScenePlan
) -> None:
    fake = ScriptedGenerator()
    run(with_generator(services, fake), music_video)
    services.storage.delete(REFERENCE_BUCKET, [f"{music_video.job_id}/scene_alley.png"])
    run(with_generator(services, fake), music_video)
    assert [r.label for r in fake.history[6:]] == ["scene_alley"]


def test_a_stored_image_overwritten_is_generated_again_not_reused(
    services: Services, music_video: ScenePlan
) -> None:
    fake = ScriptedGenerator()
    run(with_generator(services, fake), music_video)
    job_id = str(music_video.job_id)
    alley, diner = f"{job_id}/scene_alley.png", f"{job_id}/scene_diner.png"
    services.storage.put(REFERENCE_BUCKET, alley, b"garbage, not a PNG", "image/png")
    same_size = bytearray(services.storage.get(REFERENCE_BUCKET, diner))
    same_size[-20] ^= 0xFF  # one flipped byte: the size alone would not tell
    services.storage.put(REFERENCE_BUCKET, diner, bytes(same_size), "image/png")
    result = run(with_generator(services, fake), music_video)
    assert sorted(r.label for r in fake.history[6:]) == ["scene_alley", "scene_diner"]
    assert result is not None and result.status == "success"
    assert not [r for r in result.scene_references if r.scene_id in ("alley", "diner") and r.reused]
    checks = services.records.objects.checks(REFERENCE_BUCKET, [alley, diner])
    for key in (alley, diner):
        assert checks[key] == ObjectCheck.of(services.storage.get(REFERENCE_BUCKET, key))


def test_an_image_stored_before_checks_were_recorded_is_reused_while_it_exists(
    services: Services, music_video: ScenePlan
) -> None:
    fake = ScriptedGenerator()
    run(with_generator(services, fake), music_video)
    job_id = str(music_video.job_id)
    services.records.objects.forget(REFERENCE_BUCKET, job_id)
    assert services.records.objects.checks(REFERENCE_BUCKET, [f"{job_id}/scene_alley.png"]) == {}
    result = run(with_generator(services, fake), music_video)
    assert len(fake.history) == 6 and result is not None and result.total_cost == 0


def test_events_arrive_in_order(services: Services, music_video: ScenePlan) -> None:
    events: list[Event] = []
    run(with_generator(services, ScriptedGenerator(latency=0.01)), music_video, on_event=events.append)
    types = [e.type for e in events]
    assert types[0] == "stage_update" and events[0].data["status"] == "started"
    assert types[-1] == "stage_update" and events[-1].data["status"] == "completed"
    for ref in ("scene_alley", "character_stranger"):
        start = next(
            i for i, e in enumerate(events) if e.type == "reference_generation_start" and e.data["ref"] == ref
        )
        done = next(
            i
            for i, e in enumerate(events)
            if e.type == "reference_generation_complete" and e.data["ref"] == ref
        )
        assert start < done
    starts = [e.data["current_image"] for e in events if e.type == "reference_generation_start"]
    assert starts == list(range(1, 7))
    stored = services.records.events.after(str(music_video.job_id))
    assert [e.type for e in stored] == types
    assert json.loads(stored[0].payload_json)["total_images"] == 6


def test_a_failing_event_handler_does_not_stop_the_job(services: Services, music_video: ScenePlan) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("ui went away")

    assert run(services, music_video, on_event=broken) is not None


def test_job_id_must_match_the_plan(services: Services, music_video: ScenePlan) -> None:
    with pytest.raises(InvalidInput, match="job_id"):
        asyncio.run(generate_references(services, "00000000-0000-4000-8000-00000000ffff", music_video))


def test_regeneration_keeps_earlier_versions(services: Services, music_video: ScenePlan) -> None:
    fake = ScriptedGenerator()
    job_id = str(music_video.job_id)
    run(with_generator(services, fake), music_video)
    first_png = services.storage.get(REFERENCE_BUCKET, f"{job_id}/scene_alley.png")
    note = "reviewer: needs more rain"
    run(
        with_generator(services, fake),
        music_video,
        overrides={"scene_alley": ReferenceOverride(seed=99, note=note)},
    )
    versions = services.records.references.versions(job_id, "scene_alley")
    assert [(v.version, v.seed) for v in versions] == [(1, versions[0].seed), (2, 99)]
    assert versions[0].storage_key == f"{job_id}/versions/scene_alley_v1.png"
    assert versions[1].storage_key == f"{job_id}/scene_alley.png" and versions[1].note == note
    assert services.storage.get(REFERENCE_BUCKET, versions[0].storage_key) == first_png
    checks = services.records.objects.checks(REFERENCE_BUCKET, [v.storage_key for v in versions])
    assert checks[versions[0].storage_key] == ObjectCheck.of(first_png), "the check follows the image"
    second_png = services.storage.get(REFERENCE_BUCKET, versions[1].storage_key)
    assert checks[versions[1].storage_key] == ObjectCheck.of(second_png)
    assert b"Seed: 99," in services.storage.get(REFERENCE_BUCKET, versions[1].storage_key)
    assert services.records.references.of_job(job_id)["scene_alley"].version == 2
    assert len(services.records.references.versions(job_id)) == 7
