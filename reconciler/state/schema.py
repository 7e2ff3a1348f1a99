"""The tables of the history, as the code reads and writes them.

The migrations in ``migrations/versions`` build the same schema step by step; a test checks
that a migrated database matches these definitions. Names carry a ``meshrc_`` prefix so that a
PostgreSQL database shared with other applications (and their Alembic) stays unambiguous.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

VERSION_TABLE = "meshrc_schema_version"
"""Alembic's revision table."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so UTC digits are stored
    (sorting as text sorts by time) and read back as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

syncs = Table(
    "meshrc_syncs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("target", String(255), nullable=False),
    Column("commit", String(64), nullable=False),
    Column("result", String(16), nullable=False),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime, nullable=False),
    Column("repository", Text, nullable=False),
    Column("ref", Text),
    Column("author", Text),
    Column("message", Text),
    Column("content_hash", String(128)),
    Column("counts", JSON, nullable=False),
    Column("findings", JSON, nullable=False),
    Column("error", Text),
    Column("reverts", JSON),
    Column("routing_diff", JSON),
    Index("ix_meshrc_syncs_target_finished", "target", "finished"),
    Index("ix_meshrc_syncs_finished", "finished"),
)

rollbacks = Table(
    "meshrc_rollbacks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("target", String(255), nullable=False),
    Column("from_commit", String(64)),
    Column("to_commit", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_meshrc_rollbacks_target_at", "target", "at"),
)

drifts = Table(
    "meshrc_drifts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("target", String(255), nullable=False),
    Column("found_at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("object", Text, nullable=False),
    Column("commit", String(64)),
    Column("fields", JSON, nullable=False),
    Column("healed", Boolean, nullable=False),
    Column("detail", Text),
    Index("ix_meshrc_drifts_target_found_at", "target", "found_at"),
)
