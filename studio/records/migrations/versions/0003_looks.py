"""Looks: rounds of candidate looks of a song's character, the picked look, and interrogation edits.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "look_rounds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("song_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("parent", sa.String(length=32), nullable=True),
        sa.Column("init_key", sa.String(length=255), nullable=False),
        sa.Column("reference_key", sa.String(length=255), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_epoch", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("song_id", "number"),
    )
    with op.batch_alter_table("look_rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_look_rounds_archived"), ["archived"], unique=False)
        batch_op.create_index(batch_op.f("ix_look_rounds_song_id"), ["song_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_look_rounds_status"), ["status"], unique=False)

    op.create_table(
        "looks",
        sa.Column("song_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("round_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("parent", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("prediction_id", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["look_rounds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("song_id", "id"),
    )
    with op.batch_alter_table("looks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_looks_round_id"), ["round_id"], unique=False)

    with op.batch_alter_table("songs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("character_interrogation_edits_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("character_look_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("songs", schema=None) as batch_op:
        batch_op.drop_column("character_look_id")
        batch_op.drop_column("character_interrogation_edits_json")
    with op.batch_alter_table("looks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_looks_round_id"))
    op.drop_table("looks")
    with op.batch_alter_table("look_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_look_rounds_status"))
        batch_op.drop_index(batch_op.f("ix_look_rounds_song_id"))
        batch_op.drop_index(batch_op.f("ix_look_rounds_archived"))
    op.drop_table("look_rounds")
