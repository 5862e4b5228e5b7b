"""A song's character model, and the model each round of looks was made with (studio.generation.models).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("songs") as batch:
        batch.add_column(
            sa.Column("character_model", sa.String(length=64), nullable=False, server_default="sdxl")
        )
    with op.batch_alter_table("look_rounds") as batch:
        batch.add_column(sa.Column("model", sa.String(length=64), nullable=False, server_default="sdxl"))


def downgrade() -> None:
    with op.batch_alter_table("look_rounds") as batch:
        batch.drop_column("model")
    with op.batch_alter_table("songs") as batch:
        batch.drop_column("character_model")
