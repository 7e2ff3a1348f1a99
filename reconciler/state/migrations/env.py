"""Alembic's environment: migrate the connection that :mod:`reconciler.state.migrating` hands
over, inside the transaction it holds (there is no alembic.ini and no URL here).

A new revision is a file in ``versions/`` whose ``down_revision`` is the newest one; a test
(``tests/state/test_store.py``) checks that the migrated schema equals ``schema.py``.
"""

from __future__ import annotations

from alembic import context

from reconciler.state.schema import VERSION_TABLE, metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # autogenerate writes batch ops: SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
