"""Structured logs: one JSON object a line on stderr (time, level, event, fields)."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime

_lock = threading.Lock()
_bound: dict[str, object] = {}


def bind(**fields: object) -> None:
    """Fields every later line carries: the replica's identity says which replica did what."""
    _bound.update(fields)


def log(level: str, event: str, **fields: object) -> None:
    """Write one line; callers never pass secrets."""
    now = datetime.now(UTC).isoformat()
    line = {"time": now, "level": level, "event": event, **_bound, **fields}
    text = json.dumps(line, default=str)
    with _lock:
        print(text, file=sys.stderr, flush=True)
