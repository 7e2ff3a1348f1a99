"""The history of syncs: every sync, drift and rollback, in SQLite or PostgreSQL.

The sync pipeline records; ``meshrc history`` and ``meshrc status`` read.
"""

from reconciler.state.records import (
    DriftRecord,
    RollbackRecord,
    SyncRecord,
    SyncResult,
    TargetStatus,
)
from reconciler.state.store import StateStore, open_store

__all__ = [
    "DriftRecord",
    "RollbackRecord",
    "StateStore",
    "SyncRecord",
    "SyncResult",
    "TargetStatus",
    "open_store",
]
