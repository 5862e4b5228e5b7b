"""`python -m studio worker`: drains the queue with --once, or serves until SIGTERM and then exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.cli_runner import ROOT, studio
from tests.conftest import PLANS_DIR


def test_once_runs_what_is_queued(data_dir: Path) -> None:
    from studio.plans.scene_plan import load_plan
    from studio.references import jobs
    from studio.services import build_services
    from studio.settings import Settings

    services = build_services(Settings())
    try:
        job_id = jobs.submit(services, load_plan(PLANS_DIR / "minimal.json"))
        result = studio("worker", "--once")
        assert result.code == 0, result.stderr
        assert "1 job run" in result.stderr
        job = services.records.jobs.get(job_id)
        assert job is not None and job.status == "success"
    finally:
        services.close()


def test_sigterm_stops_a_serving_worker_cleanly(data_dir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "worker", "--poll", "0.1"],
        cwd=ROOT,
        env=dict(os.environ),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert "waiting for queued work" in process.stderr.readline()
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert "worker stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_bad_poll_interval_is_refused(data_dir: Path) -> None:
    result = studio("worker", "--poll", "0")
    assert result.code == 2 and "--poll" in result.stderr
