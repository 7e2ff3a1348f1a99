"""What the history holds: one record per sync and per rollback, and a target's status.

Plain frozen values, so that the sync pipeline, the store and the commands share them
without knowing about the database underneath.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class SyncResult(StrEnum):
    """How a sync ended; the value is what the history stores and prints."""

    APPLIED = "applied"
    BLOCKED = "blocked"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"
    NO_OP = "no-op"
    ABANDONED = "abandoned"
    """meshrc was stopping (``meshrc serve`` got SIGTERM) and the sync ran out of time: it
    stopped before applying, and the target stays on its last commit."""


GOOD = (SyncResult.APPLIED, SyncResult.NO_OP)
"""Results after which the target runs the synced commit's content."""

SETTLED = (*GOOD, SyncResult.ROLLED_BACK)
"""Results that leave the target on a known commit (a rollback's own ``to_commit``)."""

HEALTH = {
    SyncResult.APPLIED: "ok",
    SyncResult.NO_OP: "ok",
    SyncResult.BLOCKED: "blocked",
    SyncResult.FAILED: "failed",
    SyncResult.ROLLED_BACK: "rolled-back",
    SyncResult.ABANDONED: "abandoned",
}
"""A target's health, from its last sync."""


def _require_aware(name: str, value: datetime) -> None:
    """A naive time is ambiguous across hosts and time zones: refuse it where it is made."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), not {value.isoformat()}")


@dataclass(frozen=True)
class SyncRecord:
    """One sync of one commit to one target, whatever its result."""

    target: str
    commit: str
    result: SyncResult
    started: datetime
    finished: datetime
    repository: str = ""
    """The URL or path shown to people: the store removes any credentials from it."""
    ref: str | None = None
    author: str | None = None
    """``Name <email>`` of the commit."""
    message: str | None = None
    """The commit's subject line."""
    content_hash: str | None = None
    """Of what was applied: an unchanged hash makes the next sync a no-op."""
    counts: dict[str, int] = field(default_factory=dict)
    """Objects per outcome: ``{"created": 3, "configured": 1, "unchanged": 7, "deleted": 0}``."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """Findings as JSON (code, severity, message, file, line...)."""
    error: str | None = None
    reverts: list[str] | None = None
    """When the commit is a revert (``This reverts commit <sha>.``): the commits it reverts."""
    routing_diff: dict[str, Any] | None = None
    """Of an applied sync: what it changed for traffic, ``{"base": <commit or None>, "changes":
    <count>, "hosts": [...]}``, hosts as :class:`~reconciler.diffs.RoutingDiff` dumps them, the
    first 200 changes (base None: a first sync, compared with an empty mesh); None when it could
    not be computed (:mod:`reconciler.sync_diffs`)."""
    id: int | None = None
    """Set by the store."""

    def __post_init__(self) -> None:
        _require_aware("started", self.started)
        _require_aware("finished", self.finished)


@dataclass(frozen=True)
class RollbackRecord:
    """A target put back from one commit's content to another's."""

    target: str
    from_commit: str | None
    to_commit: str
    reason: str
    at: datetime
    id: int | None = None
    """Set by the store."""

    def __post_init__(self) -> None:
        _require_aware("at", self.at)


@dataclass(frozen=True)
class DriftRecord:
    """A difference found between a target and the commit it was last synced to."""

    target: str
    found_at: datetime
    kind: str
    """``deleted``, ``modified``, ``foreign`` (ours by its label, not in the inventory),
    ``files`` (an Envoy folder's files edited) or ``envoy`` (what the Envoy runs)."""
    object: str
    """``VirtualService shop/reviews``, or an Envoy folder's file."""
    commit: str | None = None
    """The commit the target was last synced to (its inventory's or folder's)."""
    fields: list[dict[str, Any]] = field(default_factory=list)
    """``{"path": "spec.http[0].route[0].weight", "before": 80, "after": 10}``: before is
    what the commit says, after what the target holds (absent: None)."""
    healed: bool = False
    detail: str | None = None
    id: int | None = None
    """Set by the store."""

    def __post_init__(self) -> None:
        _require_aware("found_at", self.found_at)


@dataclass(frozen=True)
class TargetStatus:
    """Where a target stands: the commit it runs, and how its last sync went."""

    target: str
    applied: SyncRecord | None
    """The last sync that left the target on a commit: applied, no-op or rolled-back."""
    last: SyncRecord
    """The last sync of any result."""
    rollback: RollbackRecord | None = None
    """When ``applied`` was rolled back: the rollback it led to, which names the commit."""

    @property
    def commit(self) -> str | None:
        """The commit whose content the target runs, ``None`` when no record says."""
        return self._settled[0] if self._settled else None

    @property
    def since(self) -> datetime | None:
        """When the target came to run :attr:`commit`."""
        return self._settled[1] if self._settled else None

    @property
    def _settled(self) -> tuple[str, datetime] | None:
        if self.rollback is not None:
            return self.rollback.to_commit, self.rollback.at
        if self.applied is not None and self.applied.result in GOOD:
            return self.applied.commit, self.applied.finished
        return None

    @property
    def health(self) -> str:
        """``ok``, ``blocked``, ``failed`` or ``rolled-back``: how the last sync ended."""
        return HEALTH[self.last.result]
