"""The records: jobs and their work, leases, budget reservations, paid calls and charges, events, and the
order writes run in, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from decimal import Decimal

import pytest

from studio.records import Records
from studio.records.jobs import JobRequest, JobStatus
from studio.records.ledger import LedgerEntry
from studio.records.paid_calls import CallState, mark_in, reserve_in, settle_in, start_in, unfinished_in
from studio.records.work import Claimed, Lease, WorkStatus

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


def claim(records: Records, owner: str = "me:1:a", work_id: str | None = None) -> Claimed | None:
    return asyncio.run(records.work.claim(owner, 30, work_id=work_id))


def claimed(records: Records, budget: str = "1.00", owner: str = "me:1:a") -> Lease:
    job, _ = records.jobs.submit(request(budget))
    found = claim(records, owner, job.work_id)
    assert found is not None
    return found.lease


def expire(records: Records) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from studio.records.schema import utcnow
    from studio.records.work import WorkRow

    with records.db.write() as s:
        s.execute(update(WorkRow).values(lease_expires_at=utcnow() - timedelta(seconds=1)))


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


def reserve(records: Records, lease: Lease, amount: str) -> bool:
    return records.db.submit(lambda s: reserve_in(s, lease, int(Decimal(amount) * 10**9))).result()


def entry(prediction_id: str | None, amount: str = "0.005292500", lease: Lease | None = None) -> LedgerEntry:
    return LedgerEntry(
        stage="generation",
        provider="replicate",
        model="m",
        amount=Decimal(amount),
        job_id=JOB,
        ref="scene_a",
        prediction_id=prediction_id,
        work_id=lease.id if lease is not None else None,
    )


def test_a_job_lives_as_work_and_ends_with_its_outcome(records: Records) -> None:
    job, queued = records.jobs.submit(request())
    assert queued and job.status == "queued" and job.budget_nanos == 10**9
    found = claim(records)
    assert found is not None
    lease = found.lease
    assert (lease.subject, lease.epoch, lease.taken_over_from) == (JOB, 1, None)
    assert records.jobs.get(JOB).status == "running"  # type: ignore[union-attr]
    assert asyncio.run(records.jobs.finish(lease, JobStatus.SUCCESS, '{"ok": true}', None))
    job = records.jobs.get(JOB)  # type: ignore[assignment]
    assert job is not None and job.status == "success" and job.completed_at is not None
    assert job.lease_owner is None and [j.id for j in records.jobs.recent()] == [JOB]
    assert records.work.get(job.work_id).status == WorkStatus.DONE  # type: ignore[union-attr]


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
    job, _ = records.jobs.submit(request())
    won: list[Claimed] = []
    barrier = threading.Barrier(4)

    def race(n: int) -> None:
        barrier.wait()
        found = claim(records, f"p:{n}:x", job.work_id)
        if found is not None:
            won.append(found)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    again, queued = records.jobs.submit(request(plan='{"changed": true}'))
    assert not queued and again.plan_json == "{}", "a live job keeps its request"


def test_a_takeover_voids_reservations_and_fences_the_old_holder(records: Records) -> None:
    first = claimed(records, "0.10")
    queue(records, first, "scene_a")
    assert reserve(records, first, "0.06")
    assert claim(records, "other:2:b") is None
    expire(records)
    taken = claim(records, "other:2:b")
    assert taken is not None
    second = taken.lease
    assert second.epoch == first.epoch + 1 and second.taken_over_from == "me:1:a"
    job = records.jobs.get(JOB)
    assert job is not None and job.reserved_nanos == 0, "the dead holder's reservation is void"
    assert not reserve(records, first, "0.01"), "the old lease reserves nothing"
    assert not asyncio.run(records.jobs.finish(first, JobStatus.SUCCESS, None, None)), "nor finishes the job"
    assert asyncio.run(records.work.renew(first, 30)) == (False, False)
    assert reserve(records, second, "0.10"), "the whole budget is free"


def test_reservations_from_many_coroutines_never_overshoot(records: Records) -> None:
    lease = claimed(records, "0.10")

    async def hammer() -> list[bool]:
        nanos = 7_000_000
        return list(
            await asyncio.gather(*(records.db.run(lambda s: reserve_in(s, lease, nanos)) for _ in range(80)))
        )

    assert asyncio.run(hammer()).count(True) == 14  # floor(0.10 / 0.007)
    job = records.jobs.get(JOB)
    assert job is not None and job.reserved_nanos == 14 * 7_000_000 <= job.budget_nanos


def test_a_call_is_charged_once_per_prediction_in_exact_decimals(records: Records) -> None:
    lease = claimed(records)
    assert reserve(records, lease, "0.087")
    call = records.db.submit(
        lambda s: start_in(s, lease, "scene_a", "replicate", job_id=JOB, song_id=None)
    ).result()
    charge = entry("p-1", lease=lease)
    assert records.db.submit(lambda s: settle_in(s, lease, call, charge, Decimal("0.087"))).result()
    assert not records.db.submit(lambda s: settle_in(s, lease, call, charge, Decimal(0))).result()
    records.ledger.add(
        replace(charge, prediction_id=None, work_id=None), replace(charge, prediction_id="p-2")
    )
    job = records.jobs.get(JOB)
    assert job is not None and job.reserved_nanos == 0
    assert job.spent_nanos == 2 * 5_292_500, "p-1 counts once however often it is charged"
    assert records.ledger.total(JOB) == Decimal("0.015877500")
    assert [e.prediction_id for e in records.ledger.entries(job_id=JOB)] == ["p-1", None, "p-2"]


def test_calls_stay_adoptable_until_kept_or_dropped(records: Records) -> None:
    lease = claimed(records)
    calls = [
        records.db.submit(
            lambda s, r=ref: start_in(s, lease, r, "replicate", job_id=JOB, song_id=None)
        ).result()
        for ref in ("scene_a", "scene_b", "scene_c")
    ]
    records.db.submit(lambda s: mark_in(s, [calls[0]], CallState.KEPT)).result()
    records.db.submit(lambda s: mark_in(s, [calls[2]], CallState.DROPPED)).result()
    open_calls = records.db.submit(lambda s: unfinished_in(s, lease.id)).result()
    assert [(c.ref, c.state) for c in open_calls] == [("scene_b", "started")]


def test_writes_run_in_the_order_they_are_made(records: Records) -> None:
    """A charge posted between two reservations frees its room before the later reservation runs: nothing
    regroups writes by kind (the later reservation used to run first and be refused)."""
    lease = claimed(records, "0.10")
    first = records.db.post(lambda s: reserve_in(s, lease, 80_000_000))
    call = records.db.submit(
        lambda s: start_in(s, lease, "scene_a", "replicate", job_id=JOB, song_id=None)
    ).result()
    charge = entry("p-1", "0.01", lease)
    settled = records.db.post(lambda s: settle_in(s, lease, call, charge, Decimal("0.08")))
    second = records.db.post(lambda s: reserve_in(s, lease, 80_000_000))
    assert (first.result(10), settled.result(10), second.result(10)) == (True, True, True)
    job = records.jobs.get(JOB)
    assert job is not None and (job.spent_nanos, job.reserved_nanos) == (10_000_000, 80_000_000)


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


def test_a_failing_op_fails_alone(records: Records) -> None:
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


def test_reads_do_not_wait_behind_writes(records: Records) -> None:
    """A read answers while the writer thread is busy with a slow write."""
    release = threading.Event()
    started = threading.Event()

    def slow(_s: object) -> None:
        started.set()
        assert release.wait(10)

    records.jobs.submit(request())
    blocked = records.db.submit(slow)
    assert started.wait(10)

    async def read() -> object:
        return await asyncio.wait_for(records.jobs.aget(JOB), 5)

    try:
        assert asyncio.run(read()) is not None
    finally:
        release.set()
    blocked.result(10)
