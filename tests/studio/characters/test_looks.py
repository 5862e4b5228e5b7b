"""Rounds of candidate looks: offline and over the Replicate protocol, more like this, picking, archiving."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from studio.characters.consistency import generate_now
from studio.characters.descriptions import describe
from studio.characters.look_rounds import looks_now
from studio.characters.looks import LooksRequest, estimate, list_looks, pick_look, queue_looks
from studio.characters.priority import resolve
from studio.characters.songs import apply_template, upload_character_image
from studio.errors import GenerationError, InvalidInput, NotFound
from studio.generation.png_parameters import parse_parameters, read_parameters
from studio.records.objects import ObjectCheck
from studio.services import Services
from studio.storage.intact import DamagedObject
from studio.storage.keys import CHARACTER_BUCKET
from studio.work.queue import run_next
from studio.work.runner import drain
from tests.fakes import ScriptedGenerator, fatal
from tests.servers.replicate import ReplicateServer
from tests.studio.characters import samples
from tests.studio.characters.conftest import replicate_services, song
from tests.studio.written import everything

GENERATED = "songs/demo-song/character_generated.png"


def with_generator(services: Services, generator: object) -> Services:
    return dataclasses.replace(services, generator=generator)  # type: ignore[arg-type]


def uploaded(services: Services) -> None:
    """A song with pose A uploaded and its consistency job run: round 1, look r1-1, picked."""
    upload_character_image(services, "demo-song", samples.png())
    assert asyncio.run(generate_now(services, "demo-song")).status == "completed"


def parameters(services: Services, key: str) -> dict[str, str]:
    return parse_parameters(read_parameters(services.storage.get(CHARACTER_BUCKET, key)) or "")


def test_the_consistency_job_makes_round_one_and_its_look_is_the_pick(services: Services) -> None:
    uploaded(services)
    listing = list_looks(services, "demo-song")
    assert listing.picked == "r1-1"
    [first] = listing.rounds
    assert (first.round, first.origin, first.status, [look.id for look in first.looks]) == (
        1, "consistency", "completed", ["r1-1"],
    )  # fmt: skip
    assert services.storage.get(CHARACTER_BUCKET, GENERATED) == services.storage.get(
        CHARACTER_BUCKET, "songs/demo-song/looks/r1-1.png"
    )
    primary = resolve(services, "demo-song").primary
    assert primary is not None and primary.key == GENERATED
    assert "(look r1-1, round 1)" in primary.reason


def test_an_offline_round_makes_distinct_stamped_looks_at_once(services: Services) -> None:
    uploaded(services)
    result = asyncio.run(looks_now(services, "demo-song", LooksRequest(count=4)))
    assert (result.round, result.status) == (2, "completed")
    assert [look.id for look in result.looks] == ["r2-1", "r2-2", "r2-3", "r2-4"]
    assert len({look.seed for look in result.looks}) == 4
    images = {services.storage.get(CHARACTER_BUCKET, look.key or "") for look in result.looks}
    assert len(images) == 4
    stamped = parameters(services, "songs/demo-song/looks/r2-3.png")
    assert (stamped["Look"], stamped["Round"], stamped["Parent"]) == ("r2-3", "2", "reference")
    assert stamped["Denoising strength"] == "0.8" and stamped["Seed"] == str(result.looks[2].seed)
    assert all(
        look.image_url and look.image_url.startswith("http://127.0.0.1:8501/api/v1/objects/")
        for look in result.looks
    )
    assert list_looks(services, "demo-song").picked == "r1-1", "a new round picks nothing by itself"


def test_candidates_are_in_flight_together_and_conditioned_on_the_reference(services: Services) -> None:
    uploaded(services)
    generator = ScriptedGenerator(latency=0.05)
    result = asyncio.run(looks_now(with_generator(services, generator), "demo-song", LooksRequest(count=6)))
    assert result.status == "completed" and generator.max_in_flight == 6
    reference = services.storage.get(CHARACTER_BUCKET, "songs/demo-song/character_reference.png")
    assert {request.init_image for request in generator.history} == {reference}
    assert {request.strength for request in generator.history} == {0.8}
    looks_charged = [e for e in services.records.ledger.entries(song_id="demo-song") if e.stage == "looks"]
    assert sorted(e.ref or "" for e in looks_charged) == [f"character_look_r2-{n}" for n in range(1, 7)]
    assert sum(e.amount for e in looks_charged) == result.cost == Decimal("0.06")


def test_a_round_that_fails_part_way_keeps_what_arrived(services: Services) -> None:
    uploaded(services)
    generator = ScriptedGenerator(script={"song:demo-song:r2-2": [fatal("nsfw")]})
    result = asyncio.run(looks_now(with_generator(services, generator), "demo-song", LooksRequest(count=3)))
    assert result.status == "partial"
    assert [(look.id, look.status) for look in result.looks] == [
        ("r2-1", "stored"), ("r2-2", "failed"), ("r2-3", "stored"),
    ]  # fmt: skip
    assert result.looks[1].error == "scripted nsfw" and result.looks[1].key is None
    failing = ScriptedGenerator(fail_when=lambda request: fatal("auth"))
    failed = asyncio.run(looks_now(with_generator(services, failing), "demo-song", LooksRequest(count=2)))
    assert failed.status == "failed" and all(look.status == "failed" for look in failed.looks)


async def test_a_round_over_the_replicate_protocol(data_dir: Path, replicate_server: ReplicateServer) -> None:
    replicate_server.latency = 0.3
    async with replicate_services(data_dir, replicate_server) as services:
        apply_template(services, "demo-song", "character-2")
        result = await looks_now(services, "demo-song", LooksRequest(count=4, strength=0.55))
        assert result.status == "completed" and replicate_server.max_in_flight() == 4
        sent = [create.input for create in replicate_server.creates]
        assert len({inputs["seed"] for inputs in sent}) == 4 == len(sent)
        assert {inputs["prompt_strength"] for inputs in sent} == {0.55}
        assert all(inputs["image"].startswith("data:image/png;base64,") for inputs in sent)
        await services.records.db.run(lambda _s: None)
        ledger = [e for e in services.records.ledger.entries(song_id="demo-song") if e.stage == "looks"]
        charges = {charge.prediction_id: charge.cost for charge in replicate_server.charges()}
        assert {e.prediction_id: e.amount for e in ledger} == charges
        assert result.cost == replicate_server.charged_total() > 0


def test_more_like_this_starts_from_the_look(services: Services) -> None:
    uploaded(services)
    asyncio.run(looks_now(services, "demo-song", LooksRequest(count=2)))
    parent = next(look for look in list_looks(services, "demo-song").rounds[1].looks if look.id == "r2-2")
    generator = ScriptedGenerator()
    more = asyncio.run(
        looks_now(with_generator(services, generator), "demo-song", LooksRequest(count=3, from_look="r2-2"))
    )
    assert [(look.parent, look.strength, look.prompt) for look in more.looks] == [
        ("r2-2", 0.48, parent.prompt)
    ] * 3
    assert more.looks[0].seed == parent.seed and len({look.seed for look in more.looks}) == 3
    assert {request.init_image for request in generator.history} == {
        services.storage.get(CHARACTER_BUCKET, "songs/demo-song/looks/r2-2.png")
    }
    assert parameters(services, "songs/demo-song/looks/r3-1.png")["Parent"] == "r2-2"
    custom = asyncio.run(
        looks_now(
            services, "demo-song", LooksRequest(count=1, from_look="r3-1", strength=0.2, prompt="a hat")
        )
    )
    assert (custom.looks[0].strength, custom.looks[0].prompt, custom.looks[0].parent) == (
        0.2,
        "a hat",
        "r3-1",
    )


def test_picking_makes_the_look_the_generated_image_and_a_new_upload_clears_it(services: Services) -> None:
    uploaded(services)
    asyncio.run(looks_now(services, "demo-song", LooksRequest(count=3)))
    picked = pick_look(services, "demo-song", "r2-3")
    assert picked.generated_key == GENERATED and picked.picked.picked
    assert services.storage.get(CHARACTER_BUCKET, GENERATED) == services.storage.get(
        CHARACTER_BUCKET, "songs/demo-song/looks/r2-3.png"
    )
    assert parameters(services, GENERATED)["Look"] == "r2-3"
    resolved = resolve(services, "demo-song")
    assert resolved.primary is not None and (resolved.primary.rank, resolved.primary.key) == (1, GENERATED)
    assert resolved.primary.reason.startswith("picked look r2-3 at ")
    assert "(round 2, seed " in resolved.primary.reason and "from the reference" in resolved.primary.reason
    assert song(services).character_look_id == "r2-3"

    upload_character_image(services, "demo-song", samples.webp())
    row = song(services)
    assert row.character_look_id is None and row.character_generated_key is None
    assert all(found.archived for found in list_looks(services, "demo-song").rounds)
    resolved = resolve(services, "demo-song")
    assert resolved.primary is not None and resolved.primary.source == "reference"
    with pytest.raises(InvalidInput, match="archived round"):
        pick_look(services, "demo-song", "r2-1")
    with pytest.raises(InvalidInput, match="archived round"):
        queue_looks(services, "demo-song", LooksRequest(from_look="r2-1"))
    asyncio.run(drain(services))
    assert list_looks(services, "demo-song").picked == "r3-1", "the new upload's job makes round 3"


def test_a_round_archived_while_it_runs_stores_nothing_more(services: Services) -> None:
    uploaded(services)

    def replace_reference_midway(request: object) -> None:
        upload_character_image(services, "demo-song", samples.webp())

    generator = ScriptedGenerator(fail_when=replace_reference_midway, latency=0.3)
    result = asyncio.run(looks_now(with_generator(services, generator), "demo-song", LooksRequest(count=2)))
    assert result.status == "superseded"
    assert {(look.status, look.error) for look in result.looks} == {
        ("failed", "not made: a new pose-A image was uploaded")
    }
    assert not [key for key in services.storage.list(CHARACTER_BUCKET) if "/looks/r2-" in key]


def test_queued_rounds_run_in_the_worker_loop(services: Services) -> None:
    apply_template(services, "demo-song", "character-1")
    queued = queue_looks(services, "demo-song", LooksRequest(count=2))
    assert (queued.round, queued.status) == (1, "queued")
    assert asyncio.run(drain(services)) == 1
    assert list_looks(services, "demo-song").rounds[0].status == "completed"
    assert asyncio.run(run_next(services)) is None


def test_the_estimate_says_what_a_round_will_cost_and_writes_nothing(services: Services) -> None:
    uploaded(services)
    priced = with_generator(services, ScriptedGenerator(cost=Decimal("0.0115")))
    before = everything(services)
    found = estimate(priced, "demo-song", LooksRequest(count=4))
    assert (found.count, found.per_look, found.total, found.strength) == (
        4,
        Decimal("0.0115"),
        Decimal("0.046"),
        0.8,
    )
    description = describe(services, "demo-song")
    assert description is not None and found.prompt == description.consistent_prompt
    assert everything(services) == before


@pytest.mark.parametrize(
    ("ask", "error", "field"),
    [
        (LooksRequest(count=0), InvalidInput, "count"),
        (LooksRequest(count=9), InvalidInput, "count"),
        (LooksRequest(strength=1.01), InvalidInput, "strength"),
        (LooksRequest(strength=-0.1), InvalidInput, "strength"),
        (LooksRequest(strength=float("nan")), InvalidInput, "strength"),
        (LooksRequest(prompt="  "), InvalidInput, "prompt"),
        (LooksRequest(from_look="r9-9"), NotFound, None),
    ],
)
def test_bad_requests_are_refused_before_anything_is_written(
    services: Services, ask: LooksRequest, error: type[Exception], field: str | None
) -> None:
    uploaded(services)
    before = everything(services)
    with pytest.raises(error) as refused:
        queue_looks(services, "demo-song", ask)
    if field is not None:
        assert isinstance(refused.value, InvalidInput) and refused.value.field == field
    assert everything(services) == before


def test_a_song_without_a_description_needs_a_prompt(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png())
    with pytest.raises(InvalidInput, match="no interrogation yet"):
        queue_looks(services, "demo-song", LooksRequest())
    assert queue_looks(services, "demo-song", LooksRequest(prompt="a courier")).prompt == "a courier"
    with pytest.raises(NotFound):
        queue_looks(services, "no-such-song", LooksRequest(prompt="x"))


def test_a_look_without_an_image_cannot_be_picked(services: Services) -> None:
    uploaded(services)
    generator = ScriptedGenerator(fail_when=lambda request: GenerationError("no", retryable=False))
    asyncio.run(looks_now(with_generator(services, generator), "demo-song", LooksRequest(count=1)))
    with pytest.raises(InvalidInput, match="r2-1 has no image"):
        pick_look(services, "demo-song", "r2-1")
    with pytest.raises(NotFound):
        pick_look(services, "demo-song", "r7-1")
    assert song(services).character_look_id == "r1-1"


def test_looks_are_checked_as_stored_and_a_changed_look_cannot_be_picked(services: Services) -> None:
    uploaded(services)
    asyncio.run(looks_now(services, "demo-song", LooksRequest(count=2)))
    keys = [GENERATED, "songs/demo-song/looks/r1-1.png", "songs/demo-song/looks/r2-1.png"]
    checks = services.records.objects.checks(CHARACTER_BUCKET, keys)
    for key in keys:
        assert checks[key] == ObjectCheck.of(services.storage.get(CHARACTER_BUCKET, key)), key

    pick_look(services, "demo-song", "r2-1")
    assert services.records.objects.checks(CHARACTER_BUCKET, [GENERATED])[GENERATED] == checks[keys[2]]

    services.storage.put(CHARACTER_BUCKET, "songs/demo-song/looks/r2-2.png", b"not the look", "image/png")
    with pytest.raises(DamagedObject, match=r"the image of look r2-2 .* has changed since it was stored"):
        pick_look(services, "demo-song", "r2-2")
    assert song(services).character_look_id == "r2-1", "nothing was picked"
    assert parameters(services, GENERATED)["Look"] == "r2-1"
