"""`templates`, `character ...` and `worker`: JSON output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from tests.cli_runner import studio
from tests.studio.characters import samples


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    files = {
        "reference.jpg": samples.jpeg(),
        "phone.jpg": samples.mpo(),
        "png-named.jpg": samples.png(),  # wrong extension: the bytes decide
        "animated.gif": samples.animated_gif(),
        "bomb.png": samples.png_claiming(20_000, 20_000),
        "notes.png": b"not an image at all",
        "cut.png": samples.truncated(samples.noisy_png()),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


def test_templates_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "templates", "--json")
    document = json.loads(out)
    assert code == 0 and [t["id"] for t in document["templates"]] == [f"character-{i}" for i in range(1, 5)]
    assert set(document["templates"][0]["poses"][0]) == {"id", "key", "thumbnail_key"}


def test_upload_generate_resolve_round_trip(
    capsys: pytest.CaptureFixture[str], images: dict[str, Path]
) -> None:
    code, out, err = run(capsys, "character", "upload", "demo-song", str(images["png-named.jpg"]), "--json")
    upload = json.loads(out)
    assert code == 0 and upload["key"] == "songs/demo-song/character_reference.png"
    assert upload["content_type"] == "image/png" and "queued consistency job" in err
    code, out, _ = run(capsys, "character", "resolve", "demo-song", "--json")
    before = json.loads(out)
    assert code == 0 and [i["source"] for i in before["images"]] == ["reference"]
    code, out, _ = run(capsys, "character", "generate", "demo-song", "--json")
    assert code == 0 and json.loads(out)["status"] == "completed"
    code, out, _ = run(capsys, "character", "resolve", "demo-song", "--json")
    after = json.loads(out)
    assert [i["source"] for i in after["images"]] == ["generated", "reference"]
    assert after["primary"]["key"] == "songs/demo-song/character_generated.png"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("animated.gif", "image: is a GIF image"),
        ("bomb.png", "image: is larger than 40 megapixels"),
        ("notes.png", "image: is not a PNG, JPEG or WebP image"),
        ("cut.png", "image: is truncated or corrupt"),
        ("missing.png", "does not exist"),
    ],
)
def test_invalid_uploads_exit_2_and_write_nothing(
    capsys: pytest.CaptureFixture[str], images: dict[str, Path], data_dir: Path, name: str, words: str
) -> None:
    path = images.get(name, images["reference.jpg"].parent / name)
    code, out, err = run(capsys, "character", "upload", "demo-song", str(path), "--json")
    assert (code, out) == (2, "") and words in err
    assert not (data_dir / "storage" / "character-images").exists()


def test_bad_song_id_and_pose_exit_2(capsys: pytest.CaptureFixture[str], images: dict[str, Path]) -> None:
    code, _, err = run(capsys, "character", "upload", "../x", str(images["reference.jpg"]))
    assert code == 2 and "song_id" in err
    code, _, err = run(
        capsys, "character", "upload", "demo-song", str(images["reference.jpg"]), "--pose", "C"
    )
    assert code == 2 and "pose" in err


def test_a_phone_jpeg_with_multi_picture_data_is_stored_as_jpeg(
    capsys: pytest.CaptureFixture[str], images: dict[str, Path]
) -> None:
    code, out, err = run(capsys, "character", "upload", "demo-song", str(images["phone.jpg"]), "--json")
    assert code == 0, err
    upload = json.loads(out)
    assert upload["key"] == "songs/demo-song/character_reference.jpg"
    assert upload["content_type"] == "image/jpeg" and (upload["width"], upload["height"]) == (60, 80)


def test_pose_b_upload_queues_nothing(capsys: pytest.CaptureFixture[str], images: dict[str, Path]) -> None:
    code, out, _ = run(
        capsys, "character", "upload", "demo-song", str(images["reference.jpg"]), "--pose", "B", "--json"
    )
    assert code == 0 and json.loads(out)["key"] == "songs/demo-song/character_pose_b.jpg"
    assert json.loads(out)["job_id"] is None


def test_template_exit_codes_and_generate_skips(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "character", "template", "demo-song", "character-7")
    assert code == 2 and "template_id" in err
    code, out, _ = run(capsys, "character", "template", "demo-song", "character-2", "--json")
    assert code == 0 and json.loads(out)["template_id"] == "character-2"
    code, out, err = run(capsys, "character", "generate", "demo-song", "--json")
    assert code == 3 and json.loads(out)["status"] == "skipped" and "the template Organic Character" in err


def test_generate_without_reference_is_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "character", "generate", "demo-song")
    assert code == 3 and "skipped: no reference image" in out


def test_generate_failure_exits_1_and_the_reference_stays_listed(
    capsys: pytest.CaptureFixture[str], images: dict[str, Path], data_dir: Path
) -> None:
    run(capsys, "character", "upload", "demo-song", str(images["reference.jpg"]))
    stored = data_dir / "storage" / "character-images" / "songs" / "demo-song" / "character_reference.jpg"
    stored.write_bytes(b"damaged on disk after the upload")
    code, out, err = run(capsys, "character", "generate", "demo-song", "--json")
    assert code == 1 and json.loads(out)["status"] == "failed" and "failed:" in err
    code, out, _ = run(capsys, "character", "resolve", "demo-song", "--json")
    primary = json.loads(out)["primary"]
    assert primary["source"] == "reference" and "the consistency job failed" in primary["reason"]


def test_consistency_off_resolves_to_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "character", "template", "demo-song", "character-1")
    assert run(capsys, "character", "consistency", "demo-song", "off")[0] == 0
    code, out, _ = run(capsys, "character", "resolve", "demo-song", "--json")
    document = json.loads(out)
    assert code == 0 and document["primary"] is None and document["images"] == []


def test_worker_once_runs_the_queue_as_a_separate_process(
    capsys: pytest.CaptureFixture[str], images: dict[str, Path]
) -> None:
    assert run(capsys, "character", "upload", "demo-song", str(images["reference.jpg"]))[0] == 0
    worker = studio("worker", "--once")
    assert worker.code == 0 and worker.stdout == "", worker.stderr
    code, out, _ = run(capsys, "character", "resolve", "demo-song", "--json")
    assert code == 0 and json.loads(out)["primary"]["source"] == "generated"
    assert main(["worker", "--once"]) == 0


def test_describe_edits_the_description_as_the_page_does(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "character", "describe", "demo-song")
    assert code == 2 and err == "not found: song 'demo-song'\n"
    assert run(capsys, "character", "template", "demo-song", "character-2")[0] == 0
    edit = "a tall woman with a shaved head, a red raincoat and navy jeans"
    code, out, _ = run(capsys, "character", "describe", "demo-song", "--description", edit, "--json")
    document = json.loads(out)
    assert code == 0 and document["consistent_prompt"].startswith(edit)
    assert document["token_count"] <= 75 and document["fields"][0]["edited"]
    code, _, err = run(capsys, "character", "describe", "demo-song", "--style", "ok", "--prompt", " ")
    assert code == 2 and "prompt" in err and "Traceback" not in err
    code, out, _ = run(capsys, "character", "describe", "demo-song")
    assert code == 0 and f"Description (edited): {edit}" in out and "Style notes (edited)" not in out
    assert "CLIP tokens" in out
    code, out, _ = run(capsys, "character", "describe", "demo-song", "--reset", "--style", "ink", "--json")
    fields = json.loads(out)["fields"]
    assert code == 0 and [f["edited"] for f in fields] == [False, False, True]
    code, out, _ = run(capsys, "character", "describe", "demo-song", "--reset", "--json")
    assert code == 0 and not any(f["edited"] for f in json.loads(out)["fields"])
    code, _, err = run(capsys, "character", "describe", "no-such-song", "--style", "x")
    assert code == 2 and "no-such-song" in err
