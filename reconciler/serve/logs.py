"""Structured logs: one JSON object a line on stderr (time, level, event, fields)."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime

_lock = threading.Lock()


def log(level: str, event: str, **fields: object) -> None:
    """Write one line; callers never pass secrets."""
    line = {"time": datetime.now(UTC).isoformat(), "level": level, "event": event, **fields}
    text = json.dumps(line, default=str)
    with _lock:
        print(text, file=sys.stderr, flush=True)
