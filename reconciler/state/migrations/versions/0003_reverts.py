"""Reverts: the commits a synced revert commit names (``This reverts commit <sha>.``).

Revision ID: 0003_reverts
Revises: 0002_drift
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reverts"
down_revision: str | None = "0002_drift"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("meshrc_syncs", sa.Column("reverts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meshrc_syncs") as batch:
        batch.drop_column("reverts")
