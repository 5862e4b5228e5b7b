"""One lease per job: lease epochs on reference and character jobs, recorded predictions, one charge each.

Per-reference leases and reservations are gone (the job is the unit of work); a character job's claim token
becomes the same lease owner and epoch as a reference job's; each prediction is charged once.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("song_id", sa.String(length=64), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("charged", sa.Boolean(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_predictions_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_predictions_song_id"), ["song_id"], unique=False)

    with op.batch_alter_table("character_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("lease_epoch", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE character_jobs SET lease_owner = claim_token")
    with op.batch_alter_table("character_jobs", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
        batch_op.alter_column("lease_epoch", server_default=None)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_epoch", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("lease_epoch", server_default=None)
        batch_op.alter_column("attempts", server_default=None)

    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_prediction_id"), ["prediction_id"], unique=True)

    with op.batch_alter_table("reference_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_epoch", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("reserved_nanos")


def downgrade() -> None:
    with op.batch_alter_table("reference_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reserved_nanos", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column("started_at")
        batch_op.drop_column("started_epoch")
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_prediction_id"))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_column("attempts")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("lease_epoch")
    with op.batch_alter_table("character_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=120), nullable=True))
    op.execute("UPDATE character_jobs SET claim_token = lease_owner")
    with op.batch_alter_table("character_jobs", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("lease_epoch")
        batch_op.drop_column("lease_owner")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_song_id"))
        batch_op.drop_index(batch_op.f("ix_predictions_job_id"))
    op.drop_table("predictions")
