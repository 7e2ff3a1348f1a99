"""The routing diff an applied sync records: what it changed for traffic, as ``meshrc diff``
says it, from the commit the target ran before to the one it runs now.

Computed once the target runs the new commit (it never delays traffic) and never fatal: the
sync happened whatever this finds, so a failure records no diff and is logged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from reconciler.diffs import HostChanges, diff_snapshots
from reconciler.model.snapshot import Snapshot
from reconciler.snapshots import MeshState, read_state
from reconciler.source.trees import CommitTree

log = logging.getLogger(__name__)

MAX_CHANGES = 200
"""Changes stored per sync (the first ones, in ``meshrc diff``'s order): a first sync of a
large mesh lists every route, 1 MB for 1,000 services; ``changes`` keeps the full count."""


def routing_diff(
    tree: CommitTree,
    head: MeshState | None,
    previous: str | None,
    namespace: str,
    cache_dir: Path | None,
) -> dict[str, Any] | None:
    """``{"base": previous, "changes": N, "hosts": [...]}`` from ``previous`` to ``tree``'s
    commit, at most :data:`MAX_CHANGES` of its N changes; a first sync (``previous`` None) is
    compared with an empty mesh, so it lists what it brought.
    ``head``: the commit's state when the sync has read it already (read here otherwise)."""
    parse_cache = cache_dir / "parsed" if cache_dir else None
    try:
        head = head or read_state(tree, None, namespace, parse_cache, tree.commit)
        if previous is None:
            base = Snapshot()
        elif previous == tree.commit:
            base = head.snapshot
        else:
            before = CommitTree(tree.source, previous)
            base = read_state(before, None, namespace, parse_cache, previous).snapshot
        diff = diff_snapshots(base, head.snapshot)
    except Exception as exc:  # the sync is done: a diff that cannot be made is only missing
        since = previous[:12] if previous else "an empty mesh"
        log.warning("no routing diff recorded for %s (from %s): %r", tree.commit[:12], since, exc)
        return None
    kept: list[HostChanges] = []
    room = MAX_CHANGES
    for host in diff.hosts:
        if room > 0:
            kept.append(HostChanges(host=host.host, changes=host.changes[:room]))
            room -= len(kept[-1].changes)
    return {
        "base": previous,
        "changes": sum(len(host.changes) for host in diff.hosts),
        "hosts": [host.model_dump(mode="json") for host in kept],
    }
