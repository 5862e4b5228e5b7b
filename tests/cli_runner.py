"""Runs `python -m studio` as a user would: a separate process, the test's environment, captured streams."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def studio(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    completed = subprocess.run(
        [sys.executable, "-m", "studio", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)
