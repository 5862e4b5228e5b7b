"""The command line's error model: one message and exit 1 for a database the studio cannot use, and the
traceback too with `--debug` (anywhere on the line) or STUDIO_DEBUG=1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_runner import ROOT, CliResult, fresh_studio, studio


@pytest.fixture
def damaged(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True)
    (data_dir / "studio.db").write_bytes(b"not a database" * 300)
    return data_dir


@pytest.mark.parametrize("run", [studio, fresh_studio], ids=["forked", "new-interpreter"])
def test_a_damaged_database_is_one_message_without_a_traceback(
    damaged: Path, run: Callable[..., CliResult]
) -> None:
    """The same from a command forked from a warm studio (how most CLI tests run) and `python -m studio`."""
    result = run("costs", "00000000-0000-4000-8000-000000000001")
    assert result.code == 1 and result.stdout == ""
    database = damaged / "studio.db"
    assert result.stderr.splitlines() == [
        f"error: the records database {database} is not a SQLite database (file is not a database)",
        f"  what to do: restore it from a backup, or move it aside (`mv {database} {database}.broken`, "
        "its -wal and -shm files too if any): the next command starts a new, empty one",
    ]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--debug", "costs", "00000000-0000-4000-8000-000000000001"), {}),
        (("costs", "00000000-0000-4000-8000-000000000001", "--debug"), {}),
        (("character", "resolve", "song", "--debug"), {}),
        (("costs", "00000000-0000-4000-8000-000000000001"), {"STUDIO_DEBUG": "1"}),
    ],
    ids=["before-the-command", "after-the-command", "nested-command", "environment"],
)
def test_debug_adds_the_traceback_before_the_message(
    damaged: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = studio(*args, env=env)
    assert result.code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "sqlite3.DatabaseError: file is not a database" in result.stderr
    assert "RecordsUnavailable" in result.stderr
    assert result.stderr.rstrip().splitlines()[-2].startswith("error: the records database")


def test_a_reader_that_goes_away_ends_the_command_without_a_traceback(data_dir: Path) -> None:
    """`python -m studio doctor | head -0`: the pipe is closed before the command prints."""
    with subprocess.Popen(
        [sys.executable, "-m", "studio", "doctor"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "STUDIO_DATA_DIR": str(data_dir)},
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(60)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
