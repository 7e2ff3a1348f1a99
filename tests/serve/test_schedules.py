"""serve.yaml schedules: a poll syncs without a webhook (through the debounced worker, so never
two syncs at once); a drift check records a drift and counts it; bad schedules are refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sync.test_envoy_target import Repository as MeshRepository
from sync.test_envoy_target import options, setup

from reconciler.errors import UsageError
from reconciler.serve import scheduler as scheduling
from reconciler.serve.config import Repository, Schedule, ServeConfig, load_config
from reconciler.serve.metrics import Metrics
from reconciler.serve.scheduler import Scheduler
from reconciler.serve.schedules import Schedules
from reconciler.state import StateStore, SyncResult, open_store
from reconciler.syncing import Outcome, sync
from serve.helpers import Running, running

__all__ = ["setup"]


def wait(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@contextmanager
def scheduled(
    config: ServeConfig, store: StateStore, state: Path
) -> Iterator[tuple[Running, Schedules]]:
    with running(config, store, state) as app:
        schedules = Schedules(
            config.repositories, app.scheduler, store, app.metrics, state, state / "cache"
        )
        schedules.start()
        try:
            yield app, schedules
        finally:
            assert schedules.shutdown(30)


@pytest.mark.usefixtures("envoy_binary")
def test_a_poll_syncs_a_new_commit_without_a_webhook(
    setup: tuple[MeshRepository, Path, Path, int],
) -> None:
    repo, endpoints, state, _offset = setup
    followed = Repository(
        name="mesh", url=str(repo.root), endpoints=endpoints, poll=Schedule(interval="1s")
    )
    with open_store(None, state) as store:
        with scheduled(ServeConfig(repositories=(followed,)), store, state) as (app, schedules):
            assert schedules.jobs == ["poll-mesh"]
            commit = repo.commit(100, 0, "all to v1")
            wait(lambda: any(r.commit == commit for r in store.history(target="local")))
            wait(app.scheduler.idle)
        latest = store.history(target="local")[0]
    assert latest.commit == commit and latest.result == SyncResult.APPLIED
    assert latest.message == "all to v1"


def test_a_poll_during_a_sync_does_not_run_a_second_one_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = threading.Lock()
    running_now, most, calls = 0, 0, 0

    def fake_sync(_options: Any, _store: Any, _progress: Any) -> list[Outcome]:
        nonlocal running_now, most, calls
        with lock:
            running_now += 1
            calls += 1
            most = max(most, running_now)
        time.sleep(0.7)  # several polls fire meanwhile
        with lock:
            running_now -= 1
        return [Outcome("local", SyncResult.NO_OP, "c" * 40, "no-op")]

    monkeypatch.setattr(scheduling, "sync", fake_sync)
    repository = Repository(name="mesh", url=str(tmp_path), poll=Schedule(interval="100ms"))
    metrics = Metrics()
    with open_store(None, tmp_path / "state") as store:
        scheduler = Scheduler((repository,), store, metrics, tmp_path, None, debounce=0.05)
        schedules = Schedules((repository,), scheduler, store, metrics, tmp_path, None)
        schedules.start()
        wait(lambda: calls >= 3)
        assert schedules.shutdown(5)
        assert scheduler.shutdown(5)
    assert most == 1


@pytest.mark.usefixtures("envoy_binary")
def test_a_drift_schedule_records_a_drift_and_counts_it(
    setup: tuple[MeshRepository, Path, Path, int],
) -> None:
    repo, endpoints, state, _offset = setup
    followed = Repository(
        name="mesh", url=str(repo.root), endpoints=endpoints, drift=Schedule(interval="1s")
    )
    with open_store(None, state) as store:
        (first,) = sync(options(repo, endpoints, state), store, lambda _m: None)
        assert first.result == SyncResult.APPLIED, first.detail
        lds = state / "envoy" / "local" / "lds.yaml"
        lds.write_text(lds.read_text() + "\n# edited\n")
        with scheduled(ServeConfig(repositories=(followed,)), store, state) as (app, schedules):
            assert schedules.jobs == ["drift-mesh"]
            wait(lambda: app.metric("meshrc_drift_detected_total", target="local") >= 1)
        (drift, *_rest) = store.drifts(target="local")
    assert drift.kind == "files" and drift.object.endswith("/lds.yaml")
    assert drift.commit == first.commit


@pytest.mark.parametrize(
    ("schedule", "key", "message"),
    [
        ('{interval: 30s, cron: "*/5 * * * *"}', "repositories.0.poll:", "exactly one"),
        ("{jitter: 5}", "repositories.0.poll:", "exactly one"),
        ("{interval: 5 minutes}", "repositories.0.poll.interval:", "invalid duration"),
        ("{interval: 0s}", "repositories.0.poll.interval:", "must be positive"),
        ('{cron: "61 * * * *"}', "repositories.0.poll.cron:", "invalid cron expression"),
        ('{cron: "* * *"}', "repositories.0.poll.cron:", "invalid cron expression"),
        ("{interval: 1m, jitter: -1}", "repositories.0.poll.jitter:", "greater than"),
        ("{interval: 1m, every: 2}", "repositories.0.poll.every:", "not permitted"),
    ],
)
def test_bad_schedules_name_the_key(tmp_path: Path, schedule: str, key: str, message: str) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(f"repositories: [{{name: mesh, url: x, poll: {schedule}}}]\n")
    with pytest.raises(UsageError) as caught:
        load_config(path)
    assert f"{path}: {key}" in str(caught.value) and message in str(caught.value)


def test_good_schedules_load(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(
        "repositories:\n"
        '  - {name: mesh, url: x, poll: {interval: 1m30s, jitter: 5}, drift: {cron: "0 * * * *"}}\n'
    )
    (repository,) = load_config(path).repositories
    assert repository.poll == Schedule(interval="1m30s", jitter=5)
    assert repository.poll.seconds == 90
    assert repository.drift is not None and repository.drift.cron == "0 * * * *"
