"""The history: syncs and rollbacks.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "meshrc_syncs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text()),
        sa.Column("author", sa.Text()),
        sa.Column("message", sa.Text()),
        sa.Column("content_hash", sa.String(128)),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_meshrc_syncs_target_finished", "meshrc_syncs", ["target", "finished"])
    op.create_index("ix_meshrc_syncs_finished", "meshrc_syncs", ["finished"])
    op.create_table(
        "meshrc_rollbacks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("from_commit", sa.String(64)),
        sa.Column("to_commit", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_meshrc_rollbacks_target_at", "meshrc_rollbacks", ["target", "at"])


def downgrade() -> None:
    op.drop_table("meshrc_rollbacks")
    op.drop_table("meshrc_syncs")
