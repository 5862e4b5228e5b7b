"""Runs `python -m studio` as a user would: a process of its own, the test's environment, captured streams.

Each command is forked from a warm copy of the studio (`tests/cli_zygote.py`, one per test process), so a
suite of a few hundred commands does not start the interpreter and import the studio a few hundred times.
`fresh_studio` starts a real `python -m studio`, for what only the interpreter's own start can show.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


class _Zygote:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[str] | None = None

    def _started(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.cli_zygote"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            atexit.register(self.stop)
        return self.process

    def run(self, args: tuple[str, ...], env: dict[str, str], timeout: float) -> CliResult:
        with self.lock, tempfile.TemporaryDirectory(prefix="studio-cli-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            request = {"args": list(args), "env": env, "stdout": str(out), "stderr": str(err)}
            process.stdin.write(json.dumps({**request, "timeout": timeout}) + "\n")
            process.stdin.flush()
            answer = json.loads(process.stdout.readline())
            stdout, stderr = out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8")
            if answer["timed_out"]:
                raise subprocess.TimeoutExpired(["python", "-m", "studio", *args], timeout, stdout, stderr)
            return CliResult(answer["code"], stdout, stderr)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_ZYGOTE = _Zygote()


def studio(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    return _ZYGOTE.run(args, {**os.environ, **(env or {})}, timeout)


def fresh_studio(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    """`python -m studio ARGS` in a new interpreter."""
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
