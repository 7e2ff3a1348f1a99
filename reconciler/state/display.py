"""How the history is shown: aligned tables for people, JSON for scripts.

Cells are made visible (a commit message could carry terminal escapes) and padded before
they are coloured, so that colour never shifts a column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from reconciler.output.common import Style, plural, visible
from reconciler.state.records import DriftRecord, SyncRecord, TargetStatus

SHORT = 12
"""Hex digits of a commit in a table, as ``meshrc diff`` prints them."""

_COUNTS = ("created", "configured", "unchanged", "deleted")
"""The order of the usual counts; others follow by name."""

_ROLES = {"failed": "error", "blocked": "warning", "rolled-back": "warning"}
"""The colour of a result or health that needs a look."""

_COLOURED = {"RESULT", "HEALTH", "LAST SYNC"}


def history_table(records: Sequence[SyncRecord], style: Style) -> str:
    """TIME, TARGET, RESULT, COMMIT, AUTHOR, SUMMARY: one sync a line, as given."""
    rows = [
        [
            _time(r.finished),
            r.target,
            r.result.value,
            r.commit[:SHORT],
            (r.author or "-").split(" <")[0],
            summary(r),
        ]
        for r in records
    ]
    return table(["TIME (UTC)", "TARGET", "RESULT", "COMMIT", "AUTHOR", "SUMMARY"], rows, style)


def drift_table(records: Sequence[DriftRecord], style: Style) -> str:
    """TIME, TARGET, KIND, OBJECT, COMMIT, HEALED, FIELDS: one drift a line, as given."""
    rows = [
        [
            _time(r.found_at),
            r.target,
            r.kind,
            r.object,
            (r.commit or "-")[:SHORT],
            "yes" if r.healed else "no",
            ", ".join(f"{f.get('path')}: {f.get('before')} -> {f.get('after')}" for f in r.fields)
            or r.detail
            or "-",
        ]
        for r in records
    ]
    header = ["TIME (UTC)", "TARGET", "KIND", "OBJECT", "COMMIT", "HEALED", "FIELDS"]
    return table(header, rows, style)


def status_table(statuses: Sequence[TargetStatus], style: Style) -> str:
    """Per target: its health, the commit it runs and since when, its last sync."""
    rows = [
        [
            s.target,
            s.health,
            s.commit[:SHORT] if s.commit else "-",
            _time(s.since, "%Y-%m-%d %H:%M") if s.since else "-",
            s.last.result.value,
            s.last.commit[:SHORT],
            _time(s.last.finished, "%Y-%m-%d %H:%M"),
        ]
        for s in statuses
    ]
    header = ["TARGET", "HEALTH", "COMMIT", "SINCE (UTC)", "LAST SYNC", "OF", "AT (UTC)"]
    return table(header, rows, style)


def summary(record: SyncRecord) -> str:
    """``3 created, 1 configured; 2 findings; <first line of the error>``, or ``-``."""
    known = {name: i for i, name in enumerate(_COUNTS)}
    counts = sorted(record.counts.items(), key=lambda kv: (known.get(kv[0], len(known)), kv[0]))
    parts = [
        f"rollback of {', '.join(c[:7] for c in record.reverts)}" if record.reverts else "",
        ", ".join(f"{n} {name}" for name, n in counts if n),
        plural(len(record.findings), "finding") if record.findings else "",
        record.error.splitlines()[0] if record.error and record.error.strip() else "",
    ]
    return "; ".join(p for p in parts if p) or "-"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], style: Style) -> str:
    """Columns two spaces apart, no trailing blanks; a bold header."""
    cells = [list(header), *([visible(c, keep="") for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    bold = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()
    lines = [style("bold", bold)]
    for row in cells[1:]:
        padded = [
            _coloured(style, h, c.ljust(w)) for h, c, w in zip(header, row, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


def _coloured(style: Style, column: str, cell: str) -> str:
    role = _ROLES.get(cell.rstrip()) if column in _COLOURED else None
    return style(role, cell) if role else cell


def to_json(value: Sequence[SyncRecord | TargetStatus | DriftRecord]) -> str:
    """A JSON list: records as their fields, statuses with their health, commit and since."""
    items = [
        {"target": v.target, "health": v.health, "commit": v.commit, "since": v.since, **asdict(v)}
        if isinstance(v, TargetStatus)
        else asdict(v)
        for v in value
    ]
    return json.dumps(items, indent=2, default=_iso) + "\n"


def _time(value: datetime, form: str = "%Y-%m-%d %H:%M:%S") -> str:
    """To the second in the history (a log); the status, an overview, says minutes."""
    return value.strftime(form)


def _iso(value: datetime) -> str:
    return value.isoformat()
