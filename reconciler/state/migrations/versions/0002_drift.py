"""Drift: differences found between a target and the commit it was last synced to.

Revision ID: 0002_drift
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_drift"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "meshrc_drifts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("object", sa.Text(), nullable=False),
        sa.Column("commit", sa.String(64)),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("healed", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("ix_meshrc_drifts_target_found_at", "meshrc_drifts", ["target", "found_at"])


def downgrade() -> None:
    op.drop_table("meshrc_drifts")
