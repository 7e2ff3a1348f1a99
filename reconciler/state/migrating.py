"""The schema's migrations (Alembic, scripts in ``migrations/``), applied when a store opens.

Several meshrc processes may open a fresh database at once: the upgrade runs in one
transaction that holds a lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock) and
looks at the revision again once it has it, so that only the first process migrates.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from reconciler.errors import StateError
from reconciler.state.schema import VERSION_TABLE

MIGRATIONS = Path(__file__).parent / "migrations"

_LOCK_KEY = 0x6D657368_72630001
"""The PostgreSQL advisory lock migrations hold ("meshrc" and a number, as one bigint)."""


def is_current(connection: Connection, database: str) -> bool:
    """Whether the schema is at the newest revision; a revision this code does not know
    means a newer meshrc migrated the database, and this one must not touch it."""
    script = ScriptDirectory(MIGRATIONS)
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    current = set(context.get_current_heads())
    newer = current - {s.revision for s in script.walk_revisions()}
    if newer:
        raise StateError(
            f"state database {database} has schema revision {', '.join(sorted(newer))}, "
            f"newer than this meshrc knows ({script.get_current_head()}): upgrade meshrc"
        )
    return current == set(script.get_heads())


def upgrade(connection: Connection, database: str) -> None:
    """Migrate to the newest revision, inside the caller's write transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    if is_current(connection, database):
        return  # another process migrated while this one waited for the lock
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
