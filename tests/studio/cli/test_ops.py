"""`python -m studio retention` and `doctor`: exit codes, JSON on stdout only, text for people."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from studio.cli import main
from studio.records.schema import JobRow, utcnow
from studio.services import build_services
from studio.settings import Settings
from studio.storage.keys import REFERENCE_BUCKET
from tests.cli_runner import studio
from tests.conftest import PLANS_DIR
from tests.servers.replicate import ReplicateServer

PLAN = PLANS_DIR / "minimal.json"
JOB = json.loads(PLAN.read_text())["job_id"]


def age_job(data_dir: Path, days: int) -> None:
    services = build_services(Settings(data_dir=data_dir))
    try:
        with services.records.db.write() as s:
            s.execute(
                update(JobRow).values(completed_at=utcnow().replace(microsecond=0) - timedelta(days=days))
            )
    finally:
        services.close()


def stored_keys(data_dir: Path) -> list[str]:
    services = build_services(Settings(data_dir=data_dir))
    try:
        return services.storage.list(REFERENCE_BUCKET)
    finally:
        services.close()


def test_retention_dry_run_then_delete(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", str(PLAN)]) == 0
    assert main(["retention", "--dry-run"]) == 0
    assert "nothing has expired" in capsys.readouterr().out
    age_job(data_dir, 15)
    assert main(["retention", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True and [j["job_id"] for j in dry["jobs"]] == [JOB]
    assert len(dry["jobs"][0]["objects"]) == 2 and len(stored_keys(data_dir)) == 2
    assert main(["retention"]) == 0
    text = capsys.readouterr().out
    assert f"job {JOB}: 2 objects" in text and "2 objects and" in text and "ledger is kept" in text
    assert stored_keys(data_dir) == []
    assert main(["costs", JOB, "--json"]) == 2, "the job's records are gone"


def test_doctor_exit_codes_and_clean_json(data_dir: Path) -> None:
    result = studio("doctor", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] is True and {c["status"] for c in report["checks"]} <= {"ok", "skipped"}
    with ReplicateServer() as server:
        url, token = server.base_url, server.token
    broken = {"REPLICATE_API_TOKEN": token, "REPLICATE_BASE_URL": url, "STUDIO_INTERROGATOR": "local"}
    result = studio("doctor", env=broken)
    assert result.code == 1
    assert "FAILED" in result.stdout and "fix: " in result.stdout and "REPLICATE_BASE_URL" in result.stdout
    assert "REPLICATE_API_TOKEN   set" in result.stdout and token not in result.stdout + result.stderr


def test_doctor_text_when_healthy(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "image generation  local" in out and "OPENAI_API_KEY" in out and out.rstrip().endswith("healthy")
