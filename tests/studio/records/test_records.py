"""The records: jobs, leases, budget reservations, charges and events, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from studio.records import Records
from studio.records.jobs import JobRequest
from studio.records.leases import Lease
from studio.records.ledger import LedgerEntry
from studio.records.schema import JobRow, utcnow

JOB = "00000000-0000-4000-8000-0000000000aa"


def request(budget: str = "1.00", plan: str = "{}") -> JobRequest:
    return JobRequest(
        job_id=JOB,
        plan_json=plan,
        budget_nanos=int(Decimal(budget) * 10**9),
        duration_seconds=None,
        concurrency=4,
        overrides_json="{}",
    )


def claimed(records: Records, budget: str = "1.00", owner: str = "me:1:a") -> Lease:
    records.jobs.submit(request(budget))
    lease = records.jobs.claim(owner, 30, JOB)
    assert lease is not None
    return lease


def expire(records: Records) -> None:
    with records.db.write() as s:
        s.execute(update(JobRow).values(lease_expires_at=utcnow() - timedelta(seconds=1)))


def queue(records: Records, lease: Lease, *refs: str) -> None:
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
    assert asyncio.run(records.references.prepare(lease, rows, keep=list(refs)))


def test_job_lifecycle(records: Records) -> None:
    job, queued = records.jobs.submit(request())
    assert queued and job.status == "queued" and job.budget_nanos == 10**9
    lease = records.jobs.claim("me:1:a", 30)
    assert lease is not None and lease.id == JOB and lease.epoch == 1 and lease.taken_over_from is None
    assert asyncio.run(records.jobs.finish(lease, "success", '{"ok": true}', None))
    job = records.jobs.get(JOB)
    assert job is not None and job.status == "success" and job.completed_at is not None
    assert job.lease_owner is None and [j.id for j in records.jobs.recent()] == [JOB]


def test_submitting_one_new_job_from_many_threads_makes_one_row(records: Records) -> None:
    outcomes: list[bool] = []
    barrier = threading.Barrier(6)

    def submit() -> None:
        barrier.wait()
        outcomes.append(records.jobs.submit(request())[1])

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [True] * 6, "insert-or-get: every submitter sees the queued job"
    assert len(records.jobs.recent()) == 1


def test_a_job_is_claimed_by_one_process_and_a_live_lease_is_respected(records: Records) -> None:
    records.jobs.submit(request())
    won: list[Lease] = []
    barrier = threading.Barrier(4)

    def claim(n: int) -> None:
        barrier.wait()
        lease = records.jobs.claim(f"p:{n}:x", 30, JOB)
        if lease is not None:
            won.append(lease)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    job, queued = records.jobs.submit(request(plan='{"changed": true}'))
    assert not queued and job.plan_json == "{}", "a live job keeps its request"


def test_a_takeover_voids_reservations_and_fences_the_old_holder(records: Records) -> None:
    first = claimed(records, "0.10")
    queue(records, first, "scene_a")
    assert asyncio.run(records.ledger.reserve(first, Decimal("0.06"), "scene_a"))
    assert records.jobs.claim("other:2:b", 30, JOB) is None
    expire(records)
    second = records.jobs.claim("other:2:b", 30, JOB)
    assert second is not None and second.epoch == first.epoch + 1 and second.taken_over_from == "me:1:a"
    job = records.jobs.get(JOB)
    assert job is not None and job.reserved_nanos == 0, "the dead holder's reservation is void"
    assert not asyncio.run(records.ledger.reserve(first, Decimal("0.01"))), "the old lease reserves nothing"
    assert not asyncio.run(records.jobs.finish(first, "success", None, None)), "nor finishes the job"
    assert asyncio.run(records.jobs.beat(first, 30)) == (False, False)
    assert asyncio.run(records.ledger.reserve(second, Decimal("0.10"), "scene_a")), "the whole budget is free"
    assert records.references.of_job(JOB)["scene_a"].started_epoch == second.epoch


def test_reservations_from_many_coroutines_never_overshoot(records: Records) -> None:
    lease = claimed(records, "0.10")

    async def hammer() -> list[bool]:
        return list(
            await asyncio.gather(*(records.ledger.reserve(lease, Decimal("0.007")) for _ in range(80)))
        )

    assert asyncio.run(hammer()).count(True) == 14  # floor(0.10 / 0.007)
    job = records.jobs.get(JOB)
    assert job is not None and job.reserved_nanos == 14 * 7_000_000 <= job.budget_nanos


def test_a_charge_settles_once_per_prediction_in_exact_decimals(records: Records) -> None:
    lease = claimed(records)
    assert asyncio.run(records.ledger.reserve(lease, Decimal("0.087")))
    entry = LedgerEntry(
        stage="generation",
        provider="replicate",
        model="m",
        amount=Decimal("0.005292500"),
        job_id=JOB,
        ref="scene_a",
        prediction_id="p-1",
    )
    ops = [records.ledger.charge_op(entry, lease, Decimal("0.087")), records.ledger.charge_op(entry)]
    for op in ops:
        records.db.submit(op).result()
    records.ledger.add(replace(entry, prediction_id=None), replace(entry, prediction_id="p-2"))
    job = records.jobs.get(JOB)
    assert job is not None and job.reserved_nanos == 0
    assert job.spent_nanos == 3 * 5_292_500, "p-1 counts once however often it is charged"
    assert records.ledger.total(JOB) == Decimal("0.015877500")
    assert [e.prediction_id for e in records.ledger.entries(job_id=JOB)] == ["p-1", None, "p-2"]


def test_predictions_are_recorded_then_adopted_until_used(records: Records) -> None:
    lease = claimed(records)
    for n in (1, 2):
        records.db.submit(
            records.ledger.record_prediction_op(
                f"p-{n}", "replicate", "scene_a", job_id=JOB, epoch=lease.epoch
            )
        ).result()
    records.db.submit(records.ledger.record_prediction_op("p-1", "replicate", "scene_a", job_id=JOB)).result()
    assert [p.id for p in asyncio.run(records.ledger.open_predictions(job_id=JOB))] == ["p-1", "p-2"]
    records.db.submit(records.ledger.mark_used_op(["p-1"])).result()
    assert [p.id for p in asyncio.run(records.ledger.open_predictions(job_id=JOB))] == ["p-2"]
    assert asyncio.run(records.ledger.known_predictions(["p-2", "p-9"])) == {"p-2"}


def test_events_keep_their_order(records: Records) -> None:
    records.db.submit(records.events.add_op(JOB, [("stage_update", {"n": i}) for i in range(5)]))
    records.db.flush()
    records.events.add(JOB, "stage_update", {"n": 5})
    events = records.events.after(JOB)
    assert [e.payload_json for e in events] == [f'{{"n": {i}}}' for i in range(6)]
    assert records.events.after(JOB, after_id=events[2].id)[0].payload_json == '{"n": 3}'


def test_prepare_drops_references_the_plan_no_longer_has(records: Records) -> None:
    lease = claimed(records)
    queue(records, lease, "scene_a", "scene_b")
    queue(records, lease, "scene_a")
    assert {r.ref: r.status for r in records.references.of_job(JOB).values()} == {
        "scene_a": "queued",
        "scene_b": "dropped",
    }


def test_one_failing_op_in_a_batch_fails_alone(records: Records) -> None:
    def broken(_s: object) -> None:
        raise ValueError("broken op")

    futures = [
        records.db.submit(records.events.add_op(JOB, [("stage_update", {"n": 1})])),
        records.db.submit(broken),
        records.db.submit(records.events.add_op(JOB, [("stage_update", {"n": 2})])),
    ]
    with pytest.raises(ValueError, match="broken op"):
        futures[1].result(10)
    assert futures[0].result(10) is None and futures[2].result(10) is None
    assert [e.payload_json for e in records.events.after(JOB)] == ['{"n": 1}', '{"n": 2}']
