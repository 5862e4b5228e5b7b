"""One work queue: reference jobs, consistency jobs and rounds of looks become rows of `work`; paid calls
are a journal of their own.

Queued and running work stays queued and running (with its lease, so a live holder keeps it, and an expired
one is taken over); ended work keeps how it ended as its subject's outcome. Predictions become paid calls
(an unused one stays adoptable by the work that made it); a reference marked started with no recorded
prediction becomes a started call, so the takeover still looks for it at the provider.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = ("queued", "running")
_LEASE = ("lease_owner", "lease_epoch", "lease_expires_at", "claimed_at", "attempts")


def _now() -> datetime:
    return datetime.now(UTC)


def _work(row: Any, kind: str, status: str, **values: Any) -> dict[str, Any]:
    """The work row of an old leased row."""
    work = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "subject": row.id,
        "status": status,
        "cancel_requested": False,
        "lease_owner": None,
        "lease_epoch": row.lease_epoch or 0,
        "lease_expires_at": None,
        "claimed_at": row.claimed_at,
        "attempts": row.attempts or 0,
        "max_attempts": 3,
        "budget_nanos": 0,
        "reserved_nanos": 0,
        "spent_nanos": 0,
        "error": None,
        "created_at": row.created_at or _now(),
        "queued_at": row.created_at or _now(),
        "finished_at": None,
    }
    if status == "running":
        work.update(lease_owner=row.lease_owner, lease_expires_at=row.lease_expires_at)
    work.update(values)
    return work


def _tables() -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(
        op.get_bind(),
        only=[
            "jobs",
            "character_jobs",
            "look_rounds",
            "predictions",
            "reference_records",
            "ledger",
            "work",
            "paid_calls",
        ],
    )
    return dict(metadata.tables)


def _move_rows() -> None:
    bind = op.get_bind()
    t = _tables()
    works: list[dict[str, Any]] = []
    job_work: dict[str, str] = {}
    for job in bind.execute(sa.select(t["jobs"])):
        status = job.status if job.status in OPEN else "done"
        work = _work(
            job,
            "references",
            status,
            cancel_requested=bool(job.cancel_requested),
            budget_nanos=job.budget_nanos,
            reserved_nanos=job.reserved_nanos if status == "running" else 0,
            spent_nanos=job.spent_nanos,
            queued_at=job.started_at or job.created_at or _now(),
            finished_at=job.completed_at,
        )
        works.append(work)
        job_work[job.id] = work["id"]
        bind.execute(
            sa.update(t["jobs"])
            .where(t["jobs"].c.id == job.id)
            .values(work_id=work["id"], outcome=None if status != "done" else job.status)
        )
    song_work: dict[str, str] = {}
    for job in bind.execute(sa.select(t["character_jobs"]).order_by(t["character_jobs"].c.created_at)):
        status = job.status if job.status in OPEN else "cancelled" if job.status == "superseded" else "done"
        work = _work(job, "consistency", status, budget_nanos=5 * 10**9, finished_at=job.finished_at)
        works.append(work)
        song_work[job.song_id] = work["id"]
        bind.execute(
            sa.update(t["character_jobs"])
            .where(t["character_jobs"].c.id == job.id)
            .values(work_id=work["id"], outcome=None if status in OPEN else job.status)
        )
    look_work: dict[str, str] = {}
    for row in bind.execute(sa.select(t["look_rounds"])):
        outcome = None if row.status in OPEN else row.status
        work_id = None
        if row.origin == "looks":
            status = (
                row.status if row.status in OPEN else "cancelled" if row.status == "superseded" else "done"
            )
            work = _work(row, "looks", status, budget_nanos=5 * 10**9, finished_at=row.finished_at)
            works.append(work)
            work_id = work["id"]
        bind.execute(
            sa.update(t["look_rounds"])
            .where(t["look_rounds"].c.id == row.id)
            .values(work_id=work_id, outcome=outcome)
        )
        if work_id is not None:
            for look_id in bind.execute(
                sa.select(sa.text("id")).select_from(sa.table("looks")).where(sa.text("round_id = :r")),
                {"r": row.id},
            ).scalars():
                look_work[f"{row.song_id}/character_look_{look_id}"] = work_id
    if works:
        bind.execute(sa.insert(t["work"]), works)
    calls: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for prediction in bind.execute(sa.select(t["predictions"])):
        work_id = (
            job_work.get(prediction.job_id or "")
            or look_work.get(f"{prediction.song_id}/{prediction.ref}")
            or song_work.get(prediction.song_id or "")
        )
        if work_id is None:
            continue
        state = "kept" if prediction.used else "settled" if prediction.charged else "started"
        seen.add((work_id, prediction.ref))
        calls.append(
            {
                "work_id": work_id,
                "ref": prediction.ref,
                "epoch": prediction.epoch,
                "provider": prediction.provider,
                "prediction_id": prediction.id,
                "state": state,
                "job_id": prediction.job_id,
                "song_id": prediction.song_id,
                "started_at": prediction.created_at,
                "updated_at": _now(),
            }
        )
    references = t["reference_records"]
    started = sa.select(references).where(
        references.c.started_at.is_not(None), references.c.status.in_(("queued", "generating"))
    )
    for reference in bind.execute(started):
        work_id = job_work.get(reference.job_id)
        if work_id is None or (work_id, reference.ref) in seen:
            continue
        calls.append(
            {
                "work_id": work_id,
                "ref": reference.ref,
                "epoch": reference.started_epoch or 0,
                "provider": reference.provider or "replicate",
                "prediction_id": None,
                "state": "started",
                "job_id": reference.job_id,
                "song_id": None,
                "started_at": reference.started_at,
                "updated_at": _now(),
            }
        )
    if calls:
        bind.execute(sa.insert(t["paid_calls"]), calls)
    ledger = t["ledger"]
    for job_id, work_id in job_work.items():
        bind.execute(sa.update(ledger).where(ledger.c.job_id == job_id).values(work_id=work_id))


def upgrade() -> None:
    op.create_table(
        "work",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_epoch", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("budget_nanos", sa.BigInteger(), nullable=False),
        sa.Column("reserved_nanos", sa.BigInteger(), nullable=False),
        sa.Column("spent_nanos", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject"),
    )
    with op.batch_alter_table("work", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_status"), ["status"], unique=False)
    op.create_table(
        "paid_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("work_id", sa.String(length=36), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("prediction_id", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("song_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prediction_id"),
    )
    with op.batch_alter_table("paid_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paid_calls_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_paid_calls_song_id"), ["song_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_paid_calls_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_paid_calls_work_id"), ["work_id"], unique=False)
    for table in ("jobs", "character_jobs", "look_rounds"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("work_id", sa.String(length=36), nullable=True))
            batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("work_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_ledger_work_id"), ["work_id"], unique=False)

    _move_rows()

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_job_id"))
        batch_op.drop_index(batch_op.f("ix_predictions_song_id"))
    op.drop_table("predictions")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("work_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.create_index(batch_op.f("ix_jobs_work_id"), ["work_id"], unique=False)
        batch_op.create_foreign_key("fk_jobs_work_id_work", "work", ["work_id"], ["id"])
        for column in (
            *_LEASE,
            "status",
            "budget_nanos",
            "reserved_nanos",
            "spent_nanos",
            "cancel_requested",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("character_jobs", schema=None) as batch_op:
        batch_op.alter_column("work_id", existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_index(batch_op.f("ix_character_jobs_status"))
        batch_op.create_index(batch_op.f("ix_character_jobs_work_id"), ["work_id"], unique=False)
        batch_op.create_foreign_key("fk_character_jobs_work_id_work", "work", ["work_id"], ["id"])
        for column in (*_LEASE, "status", "started_at", "updated_at"):
            batch_op.drop_column(column)
    with op.batch_alter_table("look_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_look_rounds_status"))
        batch_op.create_index(batch_op.f("ix_look_rounds_work_id"), ["work_id"], unique=False)
        batch_op.create_foreign_key("fk_look_rounds_work_id_work", "work", ["work_id"], ["id"])
        for column in (*_LEASE, "status", "started_at"):
            batch_op.drop_column(column)
    with op.batch_alter_table("reference_records", schema=None) as batch_op:
        batch_op.drop_column("started_epoch")
        batch_op.drop_column("started_at")


def downgrade() -> None:
    raise NotImplementedError("0005 moves work into one queue; restore a backup to go back")
