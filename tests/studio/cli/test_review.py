"""`python -m studio review` and `export`: exit codes 0/2/4 and the manifest's JSON shape.

The exit-code matrix runs `main()` in-process (fast); the manifest is checked through a real subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from tests.cli_runner import CliResult, studio
from tests.conftest import PLANS_DIR

PLAN = PLANS_DIR / "minimal.json"
JOB = json.loads(PLAN.read_text())["job_id"]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliResult:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


@pytest.fixture
def generated(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli(capsys, "generate", str(PLAN)).code == 0
    return JOB


def test_export_is_refused_until_every_reference_is_approved(
    generated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = studio("export", generated, "--json")
    assert refused.code == 4 and refused.stdout == ""
    assert "scene_rooftop: pending" in refused.stderr and "character_singer: pending" in refused.stderr

    approved = cli(capsys, "review", generated, "--approve", "scene_rooftop", "--reviewer", "alice")
    assert approved.code == 0, approved.stderr
    assert "scene_rooftop v1 approved by alice" in approved.stdout
    still = cli(capsys, "export", generated)
    assert still.code == 4 and "character_singer: pending" in still.stderr
    assert "scene_rooftop" not in still.stderr

    assert cli(capsys, "review", generated, "--approve", "character_singer").code == 0
    previews = studio("export", generated, "--json")
    assert previews.code == 4 and previews.stdout == "", "offline previews are never exported by accident"
    assert "offline previews" in previews.stderr and "REPLICATE_API_TOKEN" in previews.stderr
    exported = studio("export", generated, "--refresh", "--allow-preview", "--json")
    assert exported.code == 0, exported.stderr
    manifest = json.loads(exported.stdout)
    assert set(manifest) == {"job_id", "song_id", "references", "character", "exported_by"}
    assert manifest["job_id"] == generated and manifest["character"] is None and manifest["song_id"] is None
    scene, character = manifest["references"]
    assert scene["ref"] == "scene_rooftop" and scene["approved_by"] == "alice"
    assert {"url", "storage_key", "prompt", "negative_prompt", "seed", "model_version", "parameters"} <= set(
        scene
    )
    assert scene["version"] == 1 and scene["model_version"] == "local-preview-1"
    assert (scene["provider"], scene["preview"]) == ("local", True)
    assert character["kind"] == "character" and character["subject_id"] == "singer"
    text = cli(capsys, "export", generated, "--allow-preview")
    assert text.code == 0 and "2 approved references" in text.stdout


def test_rejection_needs_a_reason_and_is_recorded(generated: str, capsys: pytest.CaptureFixture[str]) -> None:
    missing = cli(capsys, "review", generated, "--reject", "scene_rooftop")
    assert missing.code == 2 and "--reason" in missing.stderr
    blank = cli(capsys, "review", generated, "--reject", "scene_rooftop", "--reason", "  ")
    assert blank.code == 2 and "--reason" in blank.stderr
    rejected = cli(
        capsys,
        "review",
        generated,
        "--reject",
        "scene_rooftop",
        "--reason",
        "too dark",
        "--reviewer",
        "bob",
        "--json",
    )
    assert rejected.code == 0, rejected.stderr
    decision = json.loads(rejected.stdout)
    assert (decision["decision"], decision["reason"], decision["reviewer"]) == ("rejected", "too dark", "bob")
    assert decision["channel"] == "cli" and "the local operator's label" in rejected.stderr
    refused = cli(capsys, "export", generated)
    assert refused.code == 4 and "scene_rooftop: rejected" in refused.stderr


def test_unknown_jobs_and_references_exit_2(generated: str, capsys: pytest.CaptureFixture[str]) -> None:
    unknown_ref = cli(capsys, "review", generated, "--approve", "scene_moon")
    assert unknown_ref.code == 2 and "scene_moon" in unknown_ref.stderr
    malformed = cli(capsys, "review", generated, "--approve", "rooftop")
    assert malformed.code == 2 and "reference" in malformed.stderr
    unknown_job = cli(capsys, "review", "no-such-job", "--approve", "scene_rooftop")
    assert unknown_job.code == 2 and "no-such-job" in unknown_job.stderr
    assert cli(capsys, "export", "no-such-job").code == 2
    assert cli(capsys, "review", generated).code == 2, "one of --approve or --reject is required"
    both = cli(capsys, "review", generated, "--approve", "scene_rooftop", "--reason", "nice")
    assert both.code == 2 and "--reason" in both.stderr


def test_approve_repeated_approves_every_reference_or_none(
    generated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--approve` given twice used to approve only the last one, silently."""
    partly_unknown = cli(capsys, "review", generated, "--approve", "scene_rooftop", "--approve", "scene_moon")
    assert partly_unknown.code == 2 and "scene_moon" in partly_unknown.stderr
    assert cli(capsys, "export", generated).code == 4, "nothing was approved"

    both = cli(
        capsys, "review", generated, "--approve", "scene_rooftop", "--approve", "character_singer", "--json"
    )
    assert both.code == 0, both.stderr
    decisions = json.loads(both.stdout)
    assert [(d["ref"], d["decision"]) for d in decisions] == [
        ("scene_rooftop", "approved"),
        ("character_singer", "approved"),
    ]
    assert cli(capsys, "export", generated, "--allow-preview").code == 0

    twice = cli(capsys, "review", generated, "--reject", "scene_rooftop", "--reject", "character_singer")
    assert twice.code == 2 and "--reject: one reference at a time" in twice.stderr
