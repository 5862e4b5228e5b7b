"""Cost reports: the ledger of a job (and its song) adds up to the total, the spend and the summaries."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from studio.characters.songs import create_song
from studio.costs.report import cost_report, entries_csv, job_costs, units_words
from studio.errors import GenerationError, NotFound
from studio.plans.scene_plan import load_plan
from studio.records.ledger import LedgerEntry
from studio.references import jobs
from studio.samples import load_sample
from studio.services import Services
from studio.work.runner import drain
from tests.conftest import PLANS_DIR
from tests.fakes import ScriptedGenerator, as_if_killed, fatal

MUSIC_VIDEO = PLANS_DIR / "music-video.json"


def _run(services: Services, **submit: object) -> str:
    job_id = jobs.submit(services, load_plan(MUSIC_VIDEO), **submit)  # type: ignore[arg-type]
    asyncio.run(drain(services))
    return job_id


def test_report_total_is_the_sum_of_entries_and_the_job_spend(services: Services) -> None:
    timed_out = GenerationError("timed out", retryable=True, charged=Decimal("0.004"), reason="timeout")
    generator = ScriptedGenerator(
        cost=Decimal("0.0123"), script={"scene_alley": [timed_out], "scene_diner": [fatal()]}
    )
    scripted = dataclasses.replace(services, generator=generator)
    job_id = _run(scripted, duration_seconds=90)
    report = cost_report(scripted, job_id)
    assert report.job_id == job_id and report.budget == Decimal("300")
    assert report.total == sum((e.amount for e in report.entries), Decimal("0"))
    assert report.total == report.job_spent == services.records.ledger.total(job_id)
    assert report.total == Decimal("0.0123") * 5 + Decimal("0.004"), "five images and a paid timeout"
    assert report.remaining == report.budget - report.total
    assert report.images == 5 and report.cost_per_image == (report.total / 5).quantize(Decimal("1e-9"))
    [group] = report.by_stage_provider  # the fatal error made no prediction: not a paid call, not a line
    assert (group.stage, group.provider, group.calls, group.amount) == (
        "generation",
        "scripted",
        6,
        report.total,
    )
    assert [p.cumulative for p in report.cumulative][-1] == report.total
    assert report.cumulative[0].cumulative <= report.cumulative[-1].cumulative


def test_resumes_count_as_savings(services: Services) -> None:
    scripted = dataclasses.replace(services, generator=ScriptedGenerator(cost=Decimal("0.01")))
    job_id = _run(scripted)
    as_if_killed(scripted, job_id)
    _run(scripted)
    report = cost_report(scripted, job_id)
    assert report.total == Decimal("0.06") == report.job_spent
    assert report.savings.resumed_images == 6
    assert report.savings.saved_by_resumes == Decimal("0.06") == report.savings.total
    assert report.savings.cache_hits == 0
    assert len(report.entries) == 12 and report.by_stage_provider[0].calls == 6


def test_a_run_again_of_a_finished_job_saves_nothing(services: Services) -> None:
    """Images an earlier run handed over were not going to be bought again: keeping them is no saving (a
    regenerated image made "saved" read more than the job spent)."""
    scripted = dataclasses.replace(services, generator=ScriptedGenerator(cost=Decimal("0.0024")))
    job_id = _run(scripted)
    _run(scripted)
    report = cost_report(scripted, job_id)
    assert report.total == Decimal("0.0144") and report.savings.total == 0
    assert not [e for e in report.entries if e.cache_hit]


def test_the_linked_songs_calls_are_included(services: Services) -> None:
    scripted = dataclasses.replace(services, generator=ScriptedGenerator(cost=Decimal("0.01")))
    create_song(scripted, "song-9")
    job_id = _run(scripted, song_id="song-9")
    scripted.records.ledger.add(
        LedgerEntry(
            stage="interrogation",
            provider="openai",
            model="gpt-test",
            amount=Decimal("0.002"),
            song_id="song-9",
            units=Decimal("1500"),
            unit_name="token",
            unit_price=Decimal("0.0000013"),
        ),
        LedgerEntry(
            stage="interrogation",
            provider="openai",
            model="gpt-test",
            amount=Decimal("0"),
            song_id="song-9",
            cache_hit=True,
            saved=Decimal("0.002"),
        ),
        LedgerEntry(stage="generation", provider="scripted", model="x", amount=Decimal("5"), song_id="other"),
    )
    report = cost_report(scripted, job_id)
    assert report.song_id == "song-9"
    assert report.total == Decimal("0.062") == report.job_spent + Decimal("0.002")
    assert report.savings.cache_hits == 1 and report.savings.saved_by_cache == Decimal("0.002")
    stages = {(g.stage, g.provider): g.amount for g in report.by_stage_provider}
    assert stages == {
        ("generation", "scripted"): Decimal("0.06"),
        ("interrogation", "openai"): Decimal("0.002"),
    }
    token = next(e for e in report.entries if e.unit_name == "token")
    assert token.units == Decimal("1500") and token.unit_price == Decimal("0.0000013")


def test_json_shape_keeps_decimals_as_strings(services: Services) -> None:
    scripted = dataclasses.replace(services, generator=ScriptedGenerator(cost=Decimal("0.01")))
    job_id = _run(scripted)
    document = cost_report(scripted, job_id).model_dump(mode="json")
    assert {"job_id", "budget", "total", "entries"} <= set(document)
    assert isinstance(document["total"], str) and Decimal(document["total"]) == Decimal("0.06")
    assert isinstance(document["entries"][0]["amount"], str)


def test_unknown_job_is_refused(services: Services) -> None:
    with pytest.raises(NotFound, match="nope"):
        cost_report(services, "nope")


def test_job_costs_list_jobs_against_their_budget(services: Services) -> None:
    scripted = dataclasses.replace(services, generator=ScriptedGenerator(cost=Decimal("0.01")))
    job_id = _run(scripted, duration_seconds=60)
    [job] = job_costs(scripted)
    assert (job.job_id, job.status, job.budget, job.spent) == (
        job_id,
        "success",
        Decimal("200"),
        Decimal("0.06"),
    )


def test_entries_csv_has_every_ledger_row(services: Services) -> None:
    scripted = dataclasses.replace(services, generator=ScriptedGenerator(cost=Decimal("0.0105")))
    job_id = _run(scripted)
    lines = entries_csv(cost_report(scripted, job_id)).splitlines()
    assert lines[0].startswith("stage,provider,model,ref,") and len(lines) == 7
    first = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert (first["amount"], first["saved"]) == ("0.0105", "0"), first
    assert not any("E-" in line for line in lines), "money in a CSV is a plain decimal"


def test_song_costs_show_the_character_beside_the_jobs_that_used_it(services: Services) -> None:
    from studio.characters.consistency import generate_now
    from studio.characters.songs import upload_character_image
    from studio.costs.report import song_costs
    from tests.studio.characters import samples

    paid = dataclasses.replace(services, generator=ScriptedGenerator(cost=Decimal("0.02")))
    upload_character_image(paid, "night-song", samples.png())
    asyncio.run(generate_now(paid, "night-song"))
    plan = load_sample("minimal")
    job_id = jobs.submit(paid, plan, song_id="night-song")
    asyncio.run(drain(paid))
    (song,) = song_costs(paid)
    assert song.song_id == "night-song"
    assert (
        song.by_stage["consistency"]
        == Decimal("0.02")
        == song.character - song.by_stage.get("interrogation", 0)
    )
    assert [job.job_id for job in song.jobs] == [job_id] and song.jobs_spent == Decimal("0.04")
    assert song.total == song.character + Decimal("0.04")


@pytest.mark.parametrize(
    ("units", "name", "words"),
    [("1", "image", "1 image"), ("0", "image", "0 images"), ("2.340", "second", "2.34 seconds")],
)
def test_what_a_call_was_charged_for_reads_with_its_plural(units: str, name: str, words: str) -> None:
    assert units_words(Decimal(units), name) == words
