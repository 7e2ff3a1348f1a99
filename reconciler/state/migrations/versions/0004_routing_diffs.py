"""Routing diffs: what each applied sync changed for traffic, as JSON.

Revision ID: 0004_routing_diffs
Revises: 0003_reverts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_routing_diffs"
down_revision: str | None = "0003_reverts"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("meshrc_syncs", sa.Column("routing_diff", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meshrc_syncs") as batch:
        batch.drop_column("routing_diff")
