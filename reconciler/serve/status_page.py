"""``GET /`` and ``GET /api/status``: the read-only status of every target, for people and for
scripts, from one view model.

:func:`status_view` is a pure function from the store's records to plain JSON data; the page is
that data through a Jinja2 template (autoescaped: commit messages, authors and names come from
Git and are untrusted), the API is that data as JSON. Nothing is written and nothing is fetched
from elsewhere: the CSS is inline, allowed by its hash, and no script may run on the page.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from itertools import groupby
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from reconciler.output.diff_writers import resource_label
from reconciler.state import (
    DriftRecord,
    RollbackRecord,
    StateStore,
    SyncRecord,
    SyncResult,
    TargetStatus,
)

LIMIT = 50
"""Syncs, drifts and rollbacks listed: the recent ones."""
SHORT = 12
"""Hex digits of a commit shown, as ``meshrc history`` shows them."""
REFRESH_SECONDS = 30

_CSS = files("reconciler.serve").joinpath("templates/status.css").read_text(encoding="utf-8")
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_TEMPLATES = Environment(
    loader=PackageLoader("reconciler.serve", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class StatusRecords:
    """What the page shows, as the store returns it (newest first)."""

    statuses: list[TargetStatus]
    syncs: list[SyncRecord]
    drifts: list[DriftRecord]
    rollbacks: list[RollbackRecord]


def read_records(store: StateStore, target: str | None) -> StatusRecords:
    """The records of every target (or one); blocking: run it in a thread."""
    return StatusRecords(
        store.status(),
        store.history(target, LIMIT),
        store.drifts(target, LIMIT),
        store.rollbacks(target, LIMIT),
    )


def status_view(records: StatusRecords, target: str | None = None) -> dict[str, Any]:
    """The page's data, as JSON values with stable keys: times in UTC ISO 8601."""
    statuses = [s for s in records.statuses if target is None or s.target == target]
    return {
        "target": target,
        "targets": [_target(s, records) for s in statuses],
        "syncs": [_sync(r) for r in records.syncs],
        "drifts": [_drift(d) for d in records.drifts],
        "rollbacks": _rollbacks(records.syncs, records.rollbacks),
    }


def render_page(view: dict[str, Any]) -> str:
    """The HTML of :func:`status_view`'s data."""
    return _TEMPLATES.get_template("status.html").render(
        view=view, css=Markup(_CSS), refresh=REFRESH_SECONDS
    )


def routes(store: StateStore) -> list[Route]:
    """The page at ``/`` and its data at ``/api/status``; GET (and HEAD) only."""

    async def view(request: Request) -> tuple[dict[str, Any], int]:
        target = request.query_params.get("target") or None
        records = await run_in_threadpool(read_records, store, target)
        known = target is None or any(s.target == target for s in records.statuses)
        return status_view(records, target), 200 if known else 404

    async def page(request: Request) -> Response:
        data, status = await view(request)
        return HTMLResponse(render_page(data), status_code=status, headers=_HEADERS)

    async def api(request: Request) -> Response:
        data, status = await view(request)
        if status == 404:
            data = {"error": f"no target named {data['target']} in the history", **data}
        return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})

    return [Route("/", page, methods=["GET"]), Route("/api/status", api, methods=["GET"])]


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(commit: str | None) -> str | None:
    return commit[:SHORT] if commit else None


def _name(author: str | None) -> str | None:
    """``Ana Lima`` of ``Ana Lima <ana@example.com>``."""
    return author.split(" <")[0] if author else None


def _commit(
    commit: str | None, record: SyncRecord | None, at: datetime | None
) -> dict[str, Any] | None:
    """A commit a target runs; subject and author from ``record``, the sync that brought it."""
    if commit is None:
        return None
    return {
        "id": commit,
        "short": _short(commit),
        "subject": record.message if record else None,
        "author": _name(record.author) if record else None,
        "time": _time(at),
    }


def _target(status: TargetStatus, records: StatusRecords) -> dict[str, Any]:
    """Health from the last sync; the commit it runs (its subject and author from the sync
    that brought it); drifts found since the last sync, not healed."""
    bringing = next(
        (
            r
            for r in (status.applied, *records.syncs)
            if r is not None and r.target == status.target and r.commit == status.commit
        ),
        None,
    )
    last = status.last
    drifts = [
        d
        for d in records.drifts
        if d.target == status.target and d.found_at >= last.finished and not d.healed
    ]
    return {
        "name": status.target,
        "health": status.health,
        "repository": last.repository,
        "commit": _commit(status.commit, bringing, status.since),
        "last_sync": {
            "result": last.result.value,
            "commit": last.commit,
            "short": _short(last.commit),
            "finished": _time(last.finished),
            "error": last.error,
        },
        "drifts": len(drifts),
    }


def _sync(record: SyncRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "target": record.target,
        "result": record.result.value,
        "commit": record.commit,
        "short": _short(record.commit),
        "subject": record.message,
        "author": _name(record.author),
        "started": _time(record.started),
        "finished": _time(record.finished),
        "duration_seconds": round((record.finished - record.started).total_seconds(), 3),
        "counts": {name: n for name, n in sorted(record.counts.items()) if n},
        "error": record.error,
        "findings": len(record.findings),
        "reverts": record.reverts or [],
        "routing_diff": _routing_diff(record.routing_diff),
    }


def _routing_diff(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per host, per resource, the change sentences of ``meshrc diff``."""
    if stored is None:
        return None
    hosts = stored.get("hosts") or []
    shown = sum(len(h.get("changes") or []) for h in hosts)
    changes = stored.get("changes", shown)
    return {
        "base": stored.get("base"),
        "base_short": _short(stored.get("base")),
        "changes": changes,
        "not_shown": changes - shown,
        "hosts": [
            {
                "host": host.get("host"),
                "resources": [
                    {
                        "resource": resource_label(str(resource)),
                        "changes": [
                            {
                                "kind": c.get("kind"),
                                "summary": c.get("summary"),
                                "before": c.get("before"),
                                "after": c.get("after"),
                            }
                            for c in changes
                        ],
                    }
                    for resource, changes in groupby(
                        host.get("changes") or [], key=lambda c: c.get("resource")
                    )
                ],
            }
            for host in hosts
        ],
    }


def _drift(drift: DriftRecord) -> dict[str, Any]:
    return {
        "target": drift.target,
        "found_at": _time(drift.found_at),
        "kind": drift.kind,
        "object": drift.object,
        "commit": drift.commit,
        "short": _short(drift.commit),
        "fields": [
            {"path": f.get("path"), "before": f.get("before"), "after": f.get("after")}
            for f in drift.fields
        ],
        "healed": drift.healed,
        "detail": drift.detail,
    }


def _rollbacks(
    syncs: Iterable[SyncRecord], rollbacks: Iterable[RollbackRecord]
) -> list[dict[str, Any]]:
    """Reverts synced (``meshrc rollback``, or a person's ``git revert``): ``rollback of A by
    R``; and a target meshrc put back itself (a rejected apply): ``rollback of A to B``.
    Newest first; only applied reverts (a revert synced again, a no-op, is not listed)."""
    reverts = [
        (
            r.finished,
            _rollback("revert", r.target, r.finished, r.reverts, r.commit, None, r.message),
        )
        for r in syncs
        if r.reverts and r.result is SyncResult.APPLIED
    ]
    automatic = [
        (r.at, _rollback("automatic", r.target, r.at, [r.from_commit] if r.from_commit else [],
                         None, r.to_commit, r.reason))
        for r in rollbacks
    ]  # fmt: skip
    ordered = sorted([*reverts, *automatic], key=lambda pair: pair[0], reverse=True)
    return [entry for _at, entry in ordered]


def _rollback(
    kind: str,
    target: str,
    at: datetime,
    of: list[str],
    by: str | None,
    to: str | None,
    reason: str | None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "target": target,
        "at": _time(at),
        "of": of,
        "of_short": [_short(c) for c in of],
        "by": by,
        "by_short": _short(by),
        "to": to,
        "to_short": _short(to),
        "reason": reason,
    }
