"""The records repository, the budget reservation and the leases, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update

from studio.records import Records, leases
from studio.records.schema import JobRow, ReferenceRow, utcnow
from studio.records.store import LedgerEntry

JOB = "00000000-0000-4000-8000-0000000000aa"


def start(records: Records, budget: str = "1.00") -> None:
    records.start_job(
        JOB, "{}", Decimal(budget), duration_seconds=None, concurrency=4, provider="test", model_version="m"
    )


def queue(records: Records, *refs: str) -> None:
    rows = [
        {
            "ref": ref,
            "kind": "scene",
            "subject_id": ref.removeprefix("scene_"),
            "prompt": f"prompt {ref}",
            "negative_prompt": "",
            "seed": 1,
            "parameters_json": "{}",
            "params_hash": "h",
            "storage_key": f"{JOB}/{ref}.png",
            "status": "queued",
        }
        for ref in refs
    ]
    records.prepare_references(JOB, rows, keep=list(refs))


def test_job_lifecycle(records: Records) -> None:
    start(records)
    job = records.get_job(JOB)
    assert job is not None and job.status == "running" and job.budget_nanos == 10**9
    records.finish_job(JOB, "success", '{"ok": true}', None)
    job = records.get_job(JOB)
    assert job is not None and job.status == "success" and job.completed_at is not None
    assert [j.id for j in records.list_jobs()] == [JOB]


def test_reservations_from_many_threads_never_overshoot(records: Records) -> None:
    start(records, budget="0.10")
    granted: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(10):
            ok = records.reserve(JOB, Decimal("0.007"))
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 14  # floor(0.10 / 0.007)
    job = records.get_job(JOB)
    assert job is not None and job.reserved_nanos == 14 * 7_000_000 <= job.budget_nanos


def test_charge_settles_and_ledgers_in_exact_decimals(records: Records) -> None:
    start(records)
    queue(records, "scene_a")
    assert records.reserve(JOB, Decimal("0.087"), "scene_a")
    entry = LedgerEntry(
        stage="generation",
        provider="replicate",
        model="m",
        amount=Decimal("0.005292500"),
        job_id=JOB,
        ref="scene_a",
    )
    records.charge(JOB, Decimal("0.087"), entry)
    records.add_ledger(*[entry] * 3)
    job = records.get_job(JOB)
    assert job is not None and job.reserved_nanos == 0 and job.spent_nanos == 5_292_500
    assert records.ledger_total(JOB) == Decimal("0.021170000")
    assert records.references(JOB)["scene_a"].reserved_nanos == 0


def test_events_keep_their_order(records: Records) -> None:
    records.add_events(JOB, [("stage_update", {"n": i}) for i in range(5)])
    records.add_event(JOB, "stage_update", {"n": 5})
    events = records.events(JOB)
    assert [e.payload_json for e in events] == [f'{{"n": {i}}}' for i in range(6)]
    assert records.events(JOB, after_id=events[2].id)[0].payload_json == '{"n": 3}'


def test_prepare_drops_references_the_plan_no_longer_has(records: Records) -> None:
    start(records)
    queue(records, "scene_a", "scene_b")
    queue(records, "scene_a")
    assert {r.ref: r.status for r in records.references(JOB).values()} == {
        "scene_a": "queued",
        "scene_b": "dropped",
    }


def test_a_task_is_claimed_by_one_owner_only(records: Records) -> None:
    start(records)
    queue(records, *(f"scene_{i}" for i in range(20)))
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(owner: str) -> None:
        while tasks := leases.claim_tasks(records, JOB, owner, 30, limit=3):
            with lock:
                claimed.extend(task.ref for task in tasks)

    threads = [threading.Thread(target=worker, args=(leases.new_owner(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(f"scene_{i}" for i in range(20))


def test_an_expired_task_is_taken_over_and_its_reservation_released(records: Records) -> None:
    start(records)
    queue(records, "scene_a")
    first = leases.new_owner()
    assert leases.claim_tasks(records, JOB, first, 30)
    assert records.reserve(JOB, Decimal("0.05"), "scene_a")
    assert not leases.claim_tasks(records, JOB, leases.new_owner(), 30), "a live lease is respected"
    with records.session() as s:
        s.execute(update(ReferenceRow).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    second = leases.new_owner()
    assert leases.claim_tasks(records, JOB, second, 30)
    assert records.references(JOB)["scene_a"].lease_owner == second
    job = records.get_job(JOB)
    assert job is not None and job.reserved_nanos == 0


def test_a_task_of_a_dead_local_process_is_taken_over_at_once(records: Records) -> None:
    start(records)
    queue(records, "scene_a")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    gone_owner = f"{leases.HOST}:{dead.stdout.strip()}:cafe"
    assert leases.owner_gone(gone_owner)
    assert not leases.owner_gone(f"{leases.HOST}:{os.getpid()}:beef")
    assert not leases.owner_gone(f"another-host:{dead.stdout.strip()}:cafe"), (
        "only this host's pids are known"
    )
    assert leases.claim_tasks(records, JOB, gone_owner, 300)
    assert leases.claim_tasks(records, JOB, leases.new_owner(), 300), "long lease, owner gone"


def test_jobs_are_claimed_once_and_joined_by_other_processes(records: Records) -> None:
    start(records)
    records.finish_job(JOB, "queued", None, None)
    with records.session() as s:
        s.execute(update(JobRow).values(status="queued", completed_at=None))
    mine = leases.new_owner()
    assert leases.claim_job(records, mine, 30) == (JOB, True)
    assert leases.claim_job(records, leases.new_owner(), 30) is None, "no queued references to join yet"
    queue(records, "scene_a")
    assert leases.claim_job(records, leases.new_owner(), 30) is None, "never join a job of this same process"
    with records.session() as s:  # the holder is another process (on another host)
        s.execute(update(JobRow).values(lease_owner="elsewhere:1:x"))
    assert leases.claim_job(records, mine, 30) == (JOB, False)
