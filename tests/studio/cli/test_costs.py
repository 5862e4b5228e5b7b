"""`python -m studio costs JOB_ID`: the ledger and its summaries, as JSON and as text."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from studio.cli import main
from tests.cli_runner import studio
from tests.conftest import PLANS_DIR

PLAN = PLANS_DIR / "minimal.json"
JOB = json.loads(PLAN.read_text())["job_id"]


def test_costs_json_adds_up(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", str(PLAN), "--duration-seconds", "30"]) == 0
    assert main(["generate", str(PLAN), "--duration-seconds", "30"]) == 0, "again: nothing saved"
    capsys.readouterr()
    result = studio("costs", JOB, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"job_id", "budget", "total", "entries"} <= set(report)
    assert {"by_stage_provider", "cumulative", "cost_per_image", "savings"} <= set(report)
    assert report["job_id"] == JOB and Decimal(report["budget"]) == Decimal("100")
    assert isinstance(report["total"], str)
    assert Decimal(report["total"]) == sum(Decimal(e["amount"]) for e in report["entries"])
    assert Decimal(report["total"]) == Decimal(report["job_spent"])
    assert len(report["entries"]) == 2 and report["savings"]["resumed_images"] == 0
    entry = report["entries"][0]
    assert {"stage", "provider", "model", "ref", "units", "unit_name", "unit_price", "amount"} <= set(entry)
    assert {"cache_hit", "saved", "created_at"} <= set(entry)


def test_costs_text_and_unknown_job(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", str(PLAN)]) == 0
    capsys.readouterr()
    assert main(["costs", JOB]) == 0
    text = capsys.readouterr().out
    assert f"job {JOB}:" in text and "per image" in text
    assert main(["costs", "no-such-job", "--json"]) == 2
    unknown = capsys.readouterr()
    assert unknown.out == "" and "no-such-job" in unknown.err
