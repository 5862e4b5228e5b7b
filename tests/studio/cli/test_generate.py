"""`python -m studio generate` on the sample plans and on bad plans."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_runner import studio
from tests.conftest import PLANS_DIR
from tests.servers.replicate import Faults, ReplicateServer

SAMPLES = sorted(PLANS_DIR.glob("*.json"))


@pytest.mark.parametrize("plan", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_generate_sample_plan_json(plan: Path, data_dir: Path) -> None:
    result = studio("generate", str(plan), "--json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    source = json.loads(plan.read_text())
    assert document["job_id"] == source["job_id"]
    assert document["status"] == "success"
    assert document["total_references"] == len(source["scenes"]) + len(source["characters"])
    assert [r["scene_id"] for r in document["scene_references"]] == [s["id"] for s in source["scenes"]]
    assert document["metadata"]["model_version"] == "local-preview-1"
    for ref in document["scene_references"]:
        key = ref["storage_key"]
        assert (data_dir / "storage" / "reference-images" / key).is_file()
    assert "generating" in result.stderr


def test_rerun_reuses_everything_and_says_so(data_dir: Path) -> None:
    plan = PLANS_DIR / "minimal.json"
    assert studio("generate", str(plan)).code == 0
    again = studio("generate", str(plan))
    assert again.code == 0
    assert "0 generated · 2 reused · $0.00 this run" in again.stdout
    assert "reused (identical parameters, $0)" in again.stderr


def test_concurrency_and_duration_flags(data_dir: Path) -> None:
    result = studio(
        "generate",
        str(PLANS_DIR / "minimal.json"),
        "--concurrency",
        "1",
        "--duration-seconds",
        "30",
        "--json",
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "success"


BAD_PLANS = {
    "not-json": ("{not json", "plan: is not valid JSON"),
    "no-scenes": (
        {
            "job_id": "00000000-0000-4000-8000-000000000009",
            "characters": [{"id": "a", "description": "x"}],
            "scenes": [],
        },
        "scenes",
    ),
    "unsafe-id": (
        {
            "job_id": "00000000-0000-4000-8000-000000000009",
            "characters": [{"id": "a", "description": "x"}],
            "scenes": [{"id": "../etc", "description": "x"}],
        },
        "scenes[0].id",
    ),
    "bad-uuid": (
        {
            "job_id": "42",
            "characters": [{"id": "a", "description": "x"}],
            "scenes": [{"id": "b", "description": "y"}],
        },
        "job_id",
    ),
    "empty-description": (
        {
            "job_id": "00000000-0000-4000-8000-000000000009",
            "characters": [{"id": "a", "description": "  "}],
            "scenes": [{"id": "b", "description": "y"}],
        },
        "characters[0].description",
    ),
    "duplicate-ids": (
        {
            "job_id": "00000000-0000-4000-8000-000000000009",
            "characters": [{"id": "a", "description": "x"}],
            "scenes": [{"id": "b", "description": "y"}, {"id": "b", "description": "z"}],
        },
        "scenes[1].id: duplicate id 'b'",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_PLANS))
def test_bad_plan_exits_2_names_the_field_and_writes_nothing(
    name: str, tmp_path: Path, data_dir: Path
) -> None:
    content, expected = BAD_PLANS[name]
    plan = tmp_path / "plan.json"
    plan.write_text(content if isinstance(content, str) else json.dumps(content))
    result = studio("generate", str(plan), "--json")
    assert result.code == 2
    assert expected in result.stderr
    assert result.stdout == ""
    assert not data_dir.exists()


def test_missing_plan_file(tmp_path: Path, data_dir: Path) -> None:
    result = studio("generate", str(tmp_path / "nope.json"))
    assert result.code == 2 and "PLAN: cannot read" in result.stderr
    assert not data_dir.exists()


def test_bad_concurrency_is_refused(data_dir: Path) -> None:
    result = studio("generate", str(PLANS_DIR / "minimal.json"), "--concurrency", "0")
    assert result.code == 2 and "--concurrency" in result.stderr
    assert not data_dir.exists()


def test_on_replicate_a_rerun_makes_no_prediction_and_costs_nothing(
    data_dir: Path, replicate_server: ReplicateServer
) -> None:
    env = {"REPLICATE_API_TOKEN": replicate_server.token, "REPLICATE_BASE_URL": replicate_server.base_url}
    plan = PLANS_DIR / "minimal.json"
    first = studio("generate", str(plan), "--json", env=env)
    assert first.code == 0, first.stderr
    document = json.loads(first.stdout)
    assert document["metadata"]["provider"] == "replicate" and Decimal(document["total_cost"]) > 0
    assert replicate_server.created == 2
    again = studio("generate", str(plan), env=env)
    assert again.code == 0, again.stderr
    assert replicate_server.created == 2, "no prediction on a re-run of an unchanged plan"
    assert "0 generated · 2 reused · $0.00 this run" in again.stdout


def test_when_too_few_images_succeed_the_cli_exits_3_with_the_failed_document(
    data_dir: Path, replicate_server: ReplicateServer
) -> None:
    replicate_server.faults = Faults(failed=1.0)
    env = {"REPLICATE_API_TOKEN": replicate_server.token, "REPLICATE_BASE_URL": replicate_server.base_url}
    result = studio("generate", str(PLANS_DIR / "minimal.json"), "--json", env=env)
    assert result.code == 3, result.stderr
    assert "text-only" in result.stderr and "no_generation_results" in result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "failed" and document["total_references"] == 0
    assert replicate_server.created == 4, "each image was tried twice (a failed prediction is retried once)"


def test_a_song_conditions_the_lead_character_and_goes_into_the_export(
    data_dir: Path, replicate_server: ReplicateServer, tmp_path: Path
) -> None:
    env = {"REPLICATE_API_TOKEN": replicate_server.token, "REPLICATE_BASE_URL": replicate_server.base_url}
    plan = PLANS_DIR / "minimal.json"
    job_id = json.loads(plan.read_text())["job_id"]
    assert studio("generate", str(plan), "--song", "no-such-song", env=env).code == 2
    assert replicate_server.created == 0, "an unknown song is refused before anything is paid"
    assert studio("character", "template", "night-song", "character-2").code == 0
    result = studio("generate", str(plan), "--song", "night-song", "--json", env=env)
    assert result.code == 0, result.stderr
    conditioned = [c for c in replicate_server.creates if "image" in c.input]
    assert len(conditioned) == 1 and len(replicate_server.creates) == 2, "only the lead character is img2img"
    assert conditioned[0].input["prompt"].startswith("full-body character reference")
    assert conditioned[0].input["image"].startswith("data:image/png;base64,")
    for ref in ("scene_rooftop", "character_singer"):
        assert studio("review", job_id, "--approve", ref).code == 0
    exported = studio("export", job_id, "--json")
    assert exported.code == 0, exported.stderr
    assert json.loads(exported.stdout)["song_id"] == "night-song"
    assert {r["preview"] for r in json.loads(exported.stdout)["references"]} == {False}
    character = json.loads(exported.stdout)["character"]
    assert character["song_id"] == "night-song" and character["primary"]["source"] == "template pose-a"


def test_cancel_a_job_by_id(data_dir: Path) -> None:
    plan = PLANS_DIR / "minimal.json"
    job_id = json.loads(plan.read_text())["job_id"]
    assert studio("cancel", job_id).code == 2, "an unknown job"
    assert studio("generate", str(plan)).code == 0
    result = studio("cancel", job_id, "--json")
    assert result.code == 0 and json.loads(result.stdout) == {"job_id": job_id, "status": "success"}


def test_a_plan_without_a_job_id_is_given_one_and_told(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.studio.cli.test_review import cli

    plan = json.loads((PLANS_DIR / "minimal.json").read_text())
    del plan["job_id"]
    path = tmp_path / "planner.json"
    path.write_text(json.dumps(plan))
    result = cli(capsys, "generate", str(path), "--json")
    assert result.code == 0, result.stderr
    job_id = json.loads(result.stdout)["job_id"]
    assert f"the plan has no job_id: this is job {job_id}" in result.stderr
