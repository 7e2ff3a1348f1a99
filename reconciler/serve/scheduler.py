"""Syncs the webhooks ask for: debounced, one at a time per repository (and per target), in
worker threads (a sync does blocking I/O), recorded to the store as ``meshrc sync`` does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from reconciler.errors import MeshrcError
from reconciler.policy.engines import EmbeddedEngine, Engine
from reconciler.rollback import auto_revert
from reconciler.serve.config import Repository
from reconciler.serve.logs import log
from reconciler.serve.metrics import Metrics
from reconciler.state import StateStore, SyncResult
from reconciler.syncing import Outcome, SyncOptions, sync

SyncFunction = Callable[..., list[Outcome]]


class Election(Protocol):
    """What the syncs need of leader election between replicas (:mod:`.leases`)."""

    def claims(self, target: str) -> bool:
        """May this replica sync (or check) ``target`` now?"""

    def announce(self, repository: str) -> None:
        """Have the other replicas sync ``repository`` too: a webhook pushed to it."""

    def listed(self, repository: str, targets: set[str]) -> None:
        """A sync read the repository's targets: those gone from it need no lease."""


ABANDON_GRACE = 10.0
"""Seconds a sync that ran out of shutdown time gets to reach a point where it can stop
cleanly (before a target's apply; an apply in progress ends first)."""


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
        engine: Engine | None = None,
        election: Election | None = None,
    ) -> None:
        self.store = store
        self.election = election
        """Leader election between replicas; None: this one syncs every target."""
        self.engine = engine or EmbeddedEngine()
        self.metrics = metrics
        self.state_dir = state_dir
        self.cache_dir = cache_dir
        self.debounce = debounce
        self.stopping = threading.Event()
        self.abandon = threading.Event()
        """Set when the shutdown wait is over: syncs in flight stop before their next apply."""
        self.syncs = 0
        self.targets_lock = threading.Lock()
        """Held while targets change (a sync) or are inspected (a drift check): one at a time."""
        self._workers = {r.name: _Worker(self, r) for r in repositories}

    def request(self, repository: Repository) -> None:
        """Ask for a sync of the repository's targets (returns at once)."""
        self.request_named(repository.name)

    def pushed(self, repository: Repository) -> None:
        """A webhook's push: sync here, and have the other replicas sync their targets."""
        self.request(repository)
        if self.election is not None:
            self.election.announce(repository.name)

    def request_named(self, name: str) -> None:
        """:meth:`request` by the repository's name; a name this replica does not follow is
        ignored (another replica's serve.yaml may differ during a rollout)."""
        worker = self._workers.get(name)
        if worker is not None:
            worker.wanted.set()

    def idle(self) -> bool:
        return not any(w.busy or w.wanted.is_set() for w in self._workers.values())

    @property
    def claims(self) -> Callable[[str], bool] | None:
        """Leader election's answer to "may this replica sync that target now?"; None: yes."""
        return self.election.claims if self.election is not None else None

    def run_sync(self, repository: Repository) -> None:
        asked: set[str] = set()  # the targets meshrc.yaml (or serve.yaml) names today

        def claims(target: str) -> bool:
            asked.add(target)
            return self.election is None or self.election.claims(target)

        options = SyncOptions(
            location=repository.url,
            state_dir=self.state_dir,
            ref=repository.branch,
            targets=repository.targets,
            cache_dir=self.cache_dir,
            endpoints=repository.endpoints,
            admin_url=repository.envoy_admin,
            auto_revert=repository.auto_revert,
            revert_author=repository.revert_author,
            engine=self.engine,
            abandon=self.abandon,
            claims=claims,
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
                outcomes = auto_revert(options, sync(options, self.store, progress), self.store,
                                       progress)  # fmt: skip
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
        if self.election is not None:
            self.election.listed(repository.name, asked)
        for outcome in outcomes:
            result = outcome.result.value if outcome.result else "dry-run"
            self.metrics.sync_total.labels(outcome.target, result).inc()
            if outcome.result == SyncResult.APPLIED:
                self.metrics.last_applied.labels(outcome.target).set(time.time())
            if outcome.result == SyncResult.ROLLED_BACK:
                reverted = outcome.revert is not None and outcome.revert.commit is not None
                reason = "auto-revert" if reverted else "apply-failed"
                self.metrics.rollback_total.labels(outcome.target, reason).inc()
            log(
                "info", "sync-finished", repository=repository.name, target=outcome.target,
                commit=outcome.commit, result=result, detail=outcome.detail,
            )  # fmt: skip
        for revert in {o.revert for o in outcomes if o.revert is not None}:  # one per sync
            log(
                "info" if revert.commit else "warning", "auto-revert", repository=repository.name,
                revert=revert.commit, reverts=list(revert.reverted), detail=revert.detail,
            )  # fmt: skip

    def shutdown(self, timeout: float, grace: float = ABANDON_GRACE) -> bool:
        """Stop starting syncs and let those in flight finish for up to ``timeout`` seconds;
        then have them stop before their next apply (recorded ``abandoned``) and wait up to
        ``grace`` more. True when every sync ended, either way."""
        self.stopping.set()
        if self._joined(timeout):
            return True
        busy = [name for name, worker in self._workers.items() if worker.busy]
        log("warning", "abandoning", repositories=busy, grace_seconds=grace)
        self.abandon.set()
        return self._joined(grace)

    def _joined(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for worker in self._workers.values():
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        return not any(w.thread.is_alive() for w in self._workers.values())
