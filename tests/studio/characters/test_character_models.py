"""A song's character model: set with the CLI, its rounds of looks and its job's lead character made by
google/nano-banana-2 from the song's images (scenes stay on SDXL), charged per image, and back to SDXL."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from studio.characters.character_models import conditioning_images, set_model, show_model
from studio.characters.consistency import generate_now
from studio.characters.look_rounds import looks_now
from studio.characters.looks import LooksRequest, estimate, list_looks
from studio.characters.songs import apply_template, create_song, upload_character_image
from studio.cli import main
from studio.errors import InvalidInput, NotFound
from studio.generation.models import CATALOGUE, NANO_BANANA_2
from studio.generation.png_parameters import parse_parameters, read_parameters
from studio.plans.scene_plan import ScenePlan
from studio.references.jobs import generate
from studio.services import Services, build_services
from studio.settings import Settings
from studio.storage.keys import CHARACTER_BUCKET
from tests.cli_runner import CliResult
from tests.servers.replicate import ReplicateServer
from tests.servers.supabase_storage import SupabaseStorageServer
from tests.studio.characters import samples
from tests.studio.characters.conftest import replicate_services, song
from tests.studio.written import everything

PRICE = CATALOGUE[NANO_BANANA_2].price_per_image


def test_bad_models_and_songs_are_refused_and_write_nothing(services: Services) -> None:
    apply_template(services, "demo-song", "character-1")
    before = everything(services)
    with pytest.raises(InvalidInput, match=r"^model: unknown model 'acme/face'"):
        set_model(services, "demo-song", "acme/face")
    with pytest.raises(NotFound):
        set_model(services, "no-such-song", NANO_BANANA_2)
    assert everything(services) == before
    assert show_model(services, "demo-song").model == "sdxl"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    code = main(list(argv))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def test_the_cli_shows_and_sets_the_model(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    apply_template(services, "demo-song", "character-1")
    shown = cli(capsys, "character", "model", "demo-song", NANO_BANANA_2, "--json")
    assert shown.code == 0 and json.loads(shown.stdout)["model"] == NANO_BANANA_2
    assert json.loads(shown.stdout)["reproducible"] is False
    refused = cli(capsys, "character", "model", "demo-song", "acme/face")
    assert refused.code == 2 and "model: unknown model" in refused.stderr
    assert cli(capsys, "character", "model", "nope", "--json").code == 2
    assert song(services).character_model == NANO_BANANA_2
    shown = cli(capsys, "character", "model", "demo-song")
    assert shown.stdout.startswith(f"demo-song: character model {NANO_BANANA_2}")


async def test_looks_and_the_lead_reference_use_the_song_model_and_switch_back(
    data_dir: Path, replicate_server: ReplicateServer, plan_path: Path
) -> None:
    async with replicate_services(data_dir, replicate_server) as services:
        apply_template(services, "demo-song", "character-2")
        set_model(services, "demo-song", NANO_BANANA_2)
        assert estimate(services, "demo-song", LooksRequest(count=2)).per_look == PRICE

        result = await looks_now(services, "demo-song", LooksRequest(count=2, prompt="the singer, red coat"))
        assert result.status == "completed"
        sent = [c for c in replicate_server.creates if c.answered == 201]
        assert {c.version for c in sent} == {NANO_BANANA_2}
        assert all(len(c.input["image_input"]) == 2 for c in sent)  # pose A (the start), pose B
        assert all(look.model == NANO_BANANA_2 and look.cost == PRICE for look in result.looks)
        await services.records.db.run(lambda _s: None)
        ledger = [e for e in services.records.ledger.entries(song_id="demo-song") if e.stage == "looks"]
        assert {(e.model, e.amount, e.units, e.unit_name) for e in ledger} == {
            (NANO_BANANA_2, PRICE, Decimal(1), "image")
        }
        key = result.looks[0].key
        assert key is not None
        stamped = parse_parameters(read_parameters(services.storage.get(CHARACTER_BUCKET, key)) or "")
        assert stamped["Model"] == NANO_BANANA_2 and "pose-b" in stamped["Conditioned on"]
        assert stamped["Reproducible"].startswith("no")

        replicate_server.reset()
        plan = ScenePlan.model_validate_json(await asyncio.to_thread(plan_path.read_text))
        done = await generate(services, plan, song_id="demo-song")
        assert done.status == "success"
        sent = [c for c in replicate_server.creates if c.answered == 201]
        lead = [c for c in sent if c.version == NANO_BANANA_2]
        assert len(lead) == 1 and len(lead[0].input["image_input"]) == 2
        assert all("image_input" not in c.input for c in sent if c not in lead)  # scenes: SDXL
        assert len(sent) - 1 == len(plan.scenes) + len(plan.characters) - 1
        await services.records.db.run(lambda _s: None)
        charged = [e for e in services.records.ledger.entries(job_id=done.job_id) if e.amount > 0]
        assert {e.model for e in charged if e.unit_name == "image"} == {NANO_BANANA_2}
        assert [e.amount for e in charged if e.model == NANO_BANANA_2] == [PRICE]

        set_model(services, "demo-song", "sdxl")
        replicate_server.reset()
        back = await looks_now(services, "demo-song", LooksRequest(count=1, prompt="the singer, blue coat"))
        [create] = [c for c in replicate_server.creates if c.answered == 201]
        assert create.version != NANO_BANANA_2 and "prompt_strength" in create.input
        assert back.looks[0].model != NANO_BANANA_2
        rounds = list_looks(services, "demo-song").rounds
        assert [r.model for r in rounds[-2:]] == [NANO_BANANA_2, "sdxl"]


def test_supabase_storage_gives_the_model_signed_urls_local_storage_does_not(
    supabase_server: SupabaseStorageServer, data_dir: Path, services: Services
) -> None:
    apply_template(services, "demo-song", "character-2")
    local = conditioning_images(services, song(services), None, 14)
    assert [image.url for image in local] == [None, None]  # a local URL points at this machine

    remote = build_services(
        Settings(
            data_dir=data_dir / "remote", storage="supabase", supabase_url=supabase_server.url,
            supabase_key=supabase_server.key,
        )
    )  # fmt: skip
    try:
        apply_template(remote, "demo-song", "character-2")
        images = conditioning_images(remote, song(remote), None, 14)
        assert [image.name.split(" ")[0] for image in images] == ["pose-a", "pose-b"]
        assert all(image.url and image.url.startswith(supabase_server.url) for image in images)
    finally:
        remote.storage.close()
        remote.close()


def test_offline_the_consistency_job_and_looks_imitate_the_conditioned_model(services: Services) -> None:
    create_song(services, "demo-song")
    set_model(services, "demo-song", NANO_BANANA_2)
    upload_character_image(services, "demo-song", samples.png())
    assert asyncio.run(generate_now(services, "demo-song")).status == "completed"
    [first] = list_looks(services, "demo-song").rounds
    assert first.model == NANO_BANANA_2 and first.looks[0].model == f"local-preview-1 as {NANO_BANANA_2}"
    key = first.looks[0].key
    assert key is not None
    stamped = parse_parameters(read_parameters(services.storage.get(CHARACTER_BUCKET, key)) or "")
    assert stamped["Conditioned on"].startswith("pose-a")
