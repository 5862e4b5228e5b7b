"""Work of every kind killed mid-flight, cancelled while its holder is dead, run out of disk: real
`python -m studio` processes against the project's Replicate-compatible server, on SQLite and PostgreSQL.

Each test asserts what the provider was asked and charged against the records: nothing is paid twice, the
ledger equals the provider's list (cancelled predictions included), and no traceback reaches the user.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.plans import synthetic_plan
from studio.services import Services
from tests.servers.replicate import ReplicateServer
from tests.studio.characters import samples
from tests.studio.processes import (
    Processes,
    assert_each_image_paid_once_and_ledgered,
    environment_for,
    kill,
    processes,
    services_for,
    stored,
    wait_for,
)

__all__ = ["processes"]

LATENCY = 2.0
"""Long enough to kill a process while its predictions run (their create requests held, ids unknown)."""


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer(latency=LATENCY, output_scale=1 / 32) as running:
        yield running


def song_paid_once(studio: Services, server: ReplicateServer, song_id: str, stage: str) -> None:
    """Every prediction the server made since its reset was made once, and the song's ledger lines of
    `stage` are exactly those, at what the provider charged."""
    created = [create for create in server.creates if create.answered == 201]
    seeds = [create.input["seed"] for create in created]
    assert len(seeds) == len(set(seeds)), f"an image was paid for twice: {sorted(seeds)}"
    charged = {charge.prediction_id: charge.cost for charge in server.charges()}
    entries = studio.records.ledger.entries(song_id=song_id)
    ledger = {e.prediction_id: e.amount for e in entries if e.stage == stage}
    assert ledger == charged, "the ledger equals what the provider charged"


def upload(environment: dict[str, str], processes: Callable[[dict[str, str]], Processes], tmp: Path) -> None:
    image = tmp / "pose-a.png"
    image.write_bytes(samples.png())
    done = processes(environment).start("character", "upload", "demo-song", str(image))
    assert done.wait(60) == 0, done.communicate()


def test_a_killed_round_of_looks_pays_nothing_twice(
    studio: Services,
    server: ReplicateServer,
    environment: dict[str, str],
    processes: Callable[[dict[str, str]], Processes],
    tmp_path: Path,
) -> None:
    upload(environment, processes, tmp_path)
    group = processes(environment)
    first = group.start("character", "generate", "demo-song")
    assert first.wait(60) == 0, first.communicate()
    server.reset()
    looks = group.start("character", "looks", "demo-song", "--count", "4")
    wait_for(lambda: server.count("processing") == 4, what="4 looks in flight")
    kill(looks)
    worker = group.start("worker", "--once")  # takes the round over once its lease runs out
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0 and "Traceback" not in err, err
    assert server.created == 4, "the dead process's four predictions were adopted, none made again"
    song_paid_once(studio, server, "demo-song", "looks")
    listed = group.start("character", "looks", "demo-song", "--list", "--json")
    out, err = listed.communicate(timeout=60)
    rounds = json.loads(out)["rounds"]
    assert [look["status"] for look in rounds[-1]["looks"]] == ["stored"] * 4, err


def test_a_killed_consistency_job_pays_nothing_twice(
    studio: Services,
    server: ReplicateServer,
    environment: dict[str, str],
    processes: Callable[[dict[str, str]], Processes],
    tmp_path: Path,
) -> None:
    upload(environment, processes, tmp_path)
    group = processes(environment)
    first = group.start("character", "generate", "demo-song")
    wait_for(lambda: server.count("processing") == 1, what="the consistency image in flight")
    kill(first)
    again = group.start("character", "generate", "demo-song", "--json")  # follows, then takes it over
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0 and "Traceback" not in err, err
    result = json.loads(out)
    assert result["status"] == "completed" and result["attempts"] == 2
    assert server.created == 1, "the prediction the dead process paid for was adopted"
    song_paid_once(studio, server, "demo-song", "consistency")


def test_a_cancel_survives_a_takeover_and_starts_nothing_new(
    studio: Services,
    server: ReplicateServer,
    environment: dict[str, str],
    processes: Callable[[dict[str, str]], Processes],
    tmp_path: Path,
) -> None:
    plan = synthetic_plan(24, seed=31)
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    job_id = str(plan.job_id)
    group = processes(environment)
    first = group.start("generate", str(tmp_path / "plan.json"), "--concurrency", "6")
    wait_for(lambda: server.count("processing") == 6, what="6 predictions in flight")
    kill(first)
    made = server.created
    cancelled = group.start("cancel", job_id, "--json")
    out, err = cancelled.communicate(timeout=60)
    assert cancelled.returncode == 0 and json.loads(out)["status"] == "cancelling", err
    worker = group.start("worker", "--once")  # the next holder: it honours the cancel
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0 and "Traceback" not in err, err
    assert server.created == made, "nothing was started after the cancel"
    assert server.cancelled == 6 or server.count("succeeded") + server.cancelled == 6
    job = studio.records.jobs.get(job_id)
    assert job is not None and job.status == "cancelled"
    assert_each_image_paid_once_and_ledgered(studio, server, job_id)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A file system of its own (tmpfs, 16 MiB) for the data dir: a test can fill it up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"a file system of its own cannot be mounted here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; return it (deleting it frees the room)."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(descriptor, b"\0" * size)
    finally:
        os.close(descriptor)
    return filler


def test_a_full_disk_stops_the_job_in_a_line_and_the_rerun_pays_nothing_again(
    server: ReplicateServer,
    processes: Callable[[dict[str, str]], Processes],
    database_url: str | None,
    disk: Path,
    tmp_path: Path,
) -> None:
    """Storage fills up mid-job (its disk is not the database's): the job goes back to the queue with one
    line and no traceback; once there is room, the rerun stores what was paid for without paying again."""
    server.latency = 0.5
    url = database_url or f"sqlite:///{tmp_path / 'studio.db'}"
    environment = environment_for(disk / "data", server, url)
    plan = synthetic_plan(24, seed=41)
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    job_id = str(plan.job_id)
    group = processes(environment)
    studio = services_for(environment)
    try:
        full = group.start("generate", str(tmp_path / "plan.json"), "--concurrency", "4")
        wait_for(lambda: stored(studio, job_id) >= 4, what="4 stored references")
        filler = fill(disk)
        _, err = full.communicate(timeout=120)
        assert full.returncode == 1, err
        assert "Traceback" not in err and "is full" in err and "went back to the queue" in err, err
        job = studio.records.jobs.get(job_id)
        assert job is not None and job.status == "queued", "the lease was handed back"
        assert 4 <= stored(studio, job_id) < 24
        filler.unlink()
        again = group.start("generate", str(tmp_path / "plan.json"), "--concurrency", "4", "--json")
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0 and "Traceback" not in err, err
        assert json.loads(out)["total_references"] == 24
        assert_each_image_paid_once_and_ledgered(studio, server, job_id)
    finally:
        studio.close()
