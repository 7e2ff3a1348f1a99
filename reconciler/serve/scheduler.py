"""Syncs the webhooks ask for: debounced, one at a time per repository (and per target), in
worker threads (a sync does blocking I/O), recorded to the store as ``meshrc sync`` does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.errors import MeshrcError
from reconciler.serve.config import Repository
from reconciler.serve.logs import log
from reconciler.serve.metrics import Metrics
from reconciler.state import StateStore, SyncResult
from reconciler.syncing import Outcome, SyncOptions, sync

SyncFunction = Callable[..., list[Outcome]]


class _Worker:
    """One repository's syncs: a request while idle starts one after ``debounce`` seconds
    (more requests meanwhile join it); a request during a sync asks for one more after it."""

    def __init__(self, scheduler: Scheduler, repository: Repository) -> None:
        self.scheduler = scheduler
        self.repository = repository
        self.wanted = threading.Event()
        self.busy = False
        self.thread = threading.Thread(
            target=self._run, name=f"sync-{repository.name}", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        stopping = self.scheduler.stopping
        while not stopping.is_set():
            if not self.wanted.wait(0.2):
                continue
            if stopping.wait(self.scheduler.debounce):
                return
            self.wanted.clear()
            self.busy = True
            try:
                self.scheduler.run_sync(self.repository)
            finally:
                self.busy = False


class Scheduler:
    def __init__(
        self,
        repositories: tuple[Repository, ...],
        store: StateStore,
        metrics: Metrics,
        state_dir: Path,
        cache_dir: Path | None,
        debounce: float = 0.5,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.state_dir = state_dir
        self.cache_dir = cache_dir
        self.debounce = debounce
        self.stopping = threading.Event()
        self.syncs = 0
        self.targets_lock = threading.Lock()
        """Held while targets change (a sync) or are inspected (a drift check): one at a time."""
        self._workers = {r.name: _Worker(self, r) for r in repositories}

    def request(self, repository: Repository) -> None:
        """Ask for a sync of the repository's targets (returns at once)."""
        self._workers[repository.name].wanted.set()

    def idle(self) -> bool:
        return not any(w.busy or w.wanted.is_set() for w in self._workers.values())

    def run_sync(self, repository: Repository) -> None:
        options = SyncOptions(
            location=repository.url,
            state_dir=self.state_dir,
            ref=repository.branch,
            targets=repository.targets,
            cache_dir=self.cache_dir,
            endpoints=repository.endpoints,
            admin_url=repository.envoy_admin,
        )
        fetch_started = time.monotonic()
        fetched = False

        def progress(message: str) -> None:
            nonlocal fetched
            if not fetched and message.startswith("Loading"):
                fetched = True
                self.metrics.git_fetch_duration.observe(time.monotonic() - fetch_started)

        started = time.monotonic()
        log("info", "sync-started", repository=repository.name, ref=repository.branch)
        try:
            with self.targets_lock:  # one sync at a time: targets may be shared
                outcomes = sync(options, self.store, progress)
        except MeshrcError as exc:
            for target in repository.targets or ("*",):
                self.metrics.sync_total.labels(target, "error").inc()
            log("error", "sync-failed", repository=repository.name, error=str(exc))
            return
        except Exception as exc:  # a worker must survive whatever one sync does
            log("error", "sync-crashed", repository=repository.name, error=repr(exc))
            return
        finally:
            self.metrics.sync_duration.observe(time.monotonic() - started)
            self.syncs += 1
        for outcome in outcomes:
            result = outcome.result.value if outcome.result else "dry-run"
            self.metrics.sync_total.labels(outcome.target, result).inc()
            if outcome.result == SyncResult.APPLIED:
                self.metrics.last_applied.labels(outcome.target).set(time.time())
            log(
                "info", "sync-finished", repository=repository.name, target=outcome.target,
                commit=outcome.commit, result=result, detail=outcome.detail,
            )  # fmt: skip

    def shutdown(self, timeout: float) -> bool:
        """Stop starting syncs; wait up to ``timeout`` for one in flight. True if all ended."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers.values():
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        return not any(w.thread.is_alive() for w in self._workers.values())
