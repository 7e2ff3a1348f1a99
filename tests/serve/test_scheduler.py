"""Debouncing: a burst of pushes is one sync; a push during a sync is one more after it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.serve import scheduler as scheduling
from reconciler.serve.config import Repository
from reconciler.serve.metrics import Metrics
from reconciler.serve.scheduler import Scheduler
from reconciler.state import SyncResult, open_store
from reconciler.syncing import Outcome


def wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_bursts_are_debounced_and_a_push_during_a_sync_runs_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def fake_sync(options: Any, _store: Any, progress: Any) -> list[Outcome]:
        progress("Loading abc")
        calls.append(options.ref)
        started.set()
        release.wait(10)
        return [Outcome("local", SyncResult.APPLIED, "c" * 40, "applied")]

    monkeypatch.setattr(scheduling, "sync", fake_sync)
    repository = Repository(name="mesh", url=str(tmp_path))
    metrics = Metrics()
    with open_store(None, tmp_path / "state") as store:
        scheduler = Scheduler((repository,), store, metrics, tmp_path, None, debounce=0.1)
        for _ in range(5):
            scheduler.request(repository)
        wait(started.is_set)
        for _ in range(3):  # during the sync: one more, after it
            scheduler.request(repository)
        release.set()
        wait(lambda: scheduler.syncs == 2 and scheduler.idle())
        time.sleep(0.3)
        assert calls == ["main", "main"]
        assert scheduler.shutdown(5)
    assert metrics.sync_total.labels("local", "applied")._value.get() == 2
