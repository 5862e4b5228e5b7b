"""`character looks`, `character looks --list` and `character pick`: JSON shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from studio.cli import main
from studio.records import Base
from studio.services import build_services
from studio.settings import Settings
from tests.servers.replicate import ReplicateServer
from tests.studio.characters import samples

LOOK_FIELDS = {"id", "seed", "prompt", "strength", "parent", "image_url", "cost", "status"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def song(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    """demo-song with pose A uploaded and its consistency job run (round 1, look r1-1)."""
    image = tmp_path / "me.png"
    image.write_bytes(samples.png())
    assert run(capsys, "character", "upload", "demo-song", str(image))[0] == 0
    assert run(capsys, "character", "generate", "demo-song")[0] == 0
    return "demo-song"


def snapshot(data_dir: Path) -> dict[str, Any]:
    """Every row of every table and every stored object: what "nothing written" compares."""
    services = build_services(Settings(data_dir=data_dir))
    try:
        with services.records.engine.connect() as connection:
            rows = {t.name: connection.execute(select(t)).all() for t in Base.metadata.sorted_tables}
        objects = {b: services.storage.list(b) for b in ("character-images", "reference-images")}
        return {"rows": rows, "objects": objects}
    finally:
        services.close()


def test_a_round_its_listing_and_a_pick(capsys: pytest.CaptureFixture[str], song: str) -> None:
    code, out, err = run(capsys, "character", "looks", song, "--count", "3", "--strength", "0.6", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert (document["song_id"], document["round"]) == (song, 2) and len(document["looks"]) == 3
    assert all(set(look) >= LOOK_FIELDS for look in document["looks"])
    assert {look["strength"] for look in document["looks"]} == {0.6}
    assert len({look["seed"] for look in document["looks"]}) == 3 and "character pick" in err

    code, out, _ = run(capsys, "character", "looks", song, "--from", "r2-3", "--json")
    more = json.loads(out)
    assert code == 0 and {(look["parent"], look["strength"]) for look in more["looks"]} == {("r2-3", 0.36)}

    code, out, _ = run(capsys, "character", "looks", song, "--list", "--json")
    listing = json.loads(out)
    assert code == 0 and listing["picked"] == "r1-1"
    assert [(r["round"], len(r["looks"])) for r in listing["rounds"]] == [(1, 1), (2, 3), (3, 4)]

    code, out, _ = run(capsys, "character", "pick", song, "r3-2", "--json")
    assert code == 0 and json.loads(out)["picked"]["id"] == "r3-2"
    code, out, _ = run(capsys, "character", "resolve", song, "--json")
    primary = json.loads(out)["primary"]
    assert (primary["rank"], primary["source"]) == (1, "generated")
    assert primary["reason"].startswith("picked look r3-2 at ") and "from look r2-3" in primary["reason"]
    code, out, _ = run(capsys, "character", "looks", song, "--list")
    assert code == 0 and "* r3-2" in out


def test_every_candidate_failed_exits_1(
    capsys: pytest.CaptureFixture[str], song: str, data_dir: Path
) -> None:
    reference = data_dir / "storage" / "character-images" / "songs" / song / "character_reference.png"
    reference.write_bytes(b"damaged on disk")
    code, out, err = run(capsys, "character", "looks", song, "--count", "2", "--json")
    document = json.loads(out)
    assert code == 1 and "every look of round 2 failed" in err
    assert [look["status"] for look in document["looks"]] == ["failed", "failed"]


def test_a_round_over_the_replicate_protocol_costs_what_replicate_charged(
    capsys: pytest.CaptureFixture[str],
    replicate_server: ReplicateServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", replicate_server.token)
    monkeypatch.setenv("REPLICATE_BASE_URL", replicate_server.base_url)
    monkeypatch.setenv("STUDIO_INTERROGATOR", "local")
    assert run(capsys, "character", "template", "demo-song", "character-4")[0] == 0
    code, out, err = run(capsys, "character", "looks", "demo-song", "--count", "2", "--json")
    assert code == 0, err
    document = json.loads(out)
    charged = {c.prediction_id: c.cost for c in replicate_server.charges()}
    assert len(charged) == 2 and sum(float(look["cost"]) for look in document["looks"]) == pytest.approx(
        float(sum(charged.values()))
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["looks", "demo-song", "--count", "0"], "--count"),
        (["looks", "demo-song", "--count", "9"], "--count"),
        (["looks", "demo-song", "--count", "2.5"], "--count"),
        (["looks", "demo-song", "--strength", "1.5"], "--strength"),
        (["looks", "demo-song", "--strength", "-0.1"], "--strength"),
        (["looks", "demo-song", "--strength", "nan"], "--strength"),
        (["looks", "demo-song", "--prompt", ""], "prompt"),
        (["looks", "demo-song", "--from", "r9-9"], "look 'r9-9'"),
        (["looks", "demo-song", "--from", "../r1-1"], "from_look"),
        (["looks", "other-song"], "song 'other-song'"),
        (["looks", "other-song", "--list"], "song 'other-song'"),
        (["pick", "demo-song", "r9-9"], "look 'r9-9'"),
        (["pick", "demo-song", "r1-1/x"], "look_id"),
        (["pick", "other-song", "r1-1"], "song 'other-song'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], song: str, data_dir: Path, argv: list[str], words: str
) -> None:
    before = snapshot(data_dir)
    try:
        code = main(["character", *argv, "--json"])
    except SystemExit as exit_:  # argparse refuses a flag's value itself
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "") and words in captured.err
    assert snapshot(data_dir) == before
