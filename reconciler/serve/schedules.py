"""The repositories' schedules (serve.yaml ``poll`` and ``drift``), run by APScheduler 3.

A poll asks the repository's debounced worker for a sync, as a push webhook does, so a poll
and a push never sync at once. A drift check runs ``meshrc drift`` for the repository's
targets (each warns or heals as its ``drift`` mode says) under the workers' store lock, so it
never looks at a target halfway through a sync. One run of a job at a time (``max_instances``),
missed runs coalesced into one.
"""

from __future__ import annotations

import threading
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import Counter

from reconciler.drift import DriftOptions, detect
from reconciler.errors import MeshrcError
from reconciler.serve.config import Repository, Schedule
from reconciler.serve.logs import log
from reconciler.serve.metrics import Metrics
from reconciler.serve.scheduler import Scheduler
from reconciler.state import StateStore

MISFIRE_GRACE_SECONDS = 60
"""A run this late (the process was busy or asleep) still runs; later, it is skipped."""


def trigger(schedule: Schedule) -> BaseTrigger:
    seconds = schedule.seconds
    if seconds is not None:
        return IntervalTrigger(seconds=seconds, jitter=schedule.jitter or None, timezone="UTC")
    assert schedule.cron is not None  # the config guarantees one of them
    cron = CronTrigger.from_crontab(schedule.cron, timezone="UTC")
    cron.jitter = schedule.jitter or None
    return cron


class Schedules:
    def __init__(
        self,
        repositories: tuple[Repository, ...],
        scheduler: Scheduler,
        store: StateStore,
        metrics: Metrics,
        state_dir: Path,
        cache_dir: Path | None,
    ) -> None:
        self.scheduler = scheduler
        self.store = store
        self.state_dir = state_dir
        self.cache_dir = cache_dir
        self.drift_detected = Counter(
            "meshrc_drift_detected", "Drifts found by scheduled checks, by target.", ["target"],
            registry=metrics.registry,
        )  # fmt: skip
        self.drift_checks = 0
        self._aps = BackgroundScheduler(timezone="UTC")
        defaults = {"max_instances": 1, "coalesce": True,
                    "misfire_grace_time": MISFIRE_GRACE_SECONDS}  # fmt: skip
        for repository in repositories:
            if repository.poll is not None:
                self._aps.add_job(
                    self.poll, trigger(repository.poll), args=[repository],
                    id=f"poll-{repository.name}", **defaults,
                )  # fmt: skip
            if repository.drift is not None:
                self._aps.add_job(
                    self.check_drift, trigger(repository.drift), args=[repository],
                    id=f"drift-{repository.name}", **defaults,
                )  # fmt: skip

    @property
    def jobs(self) -> list[str]:
        return [job.id for job in self._aps.get_jobs()]

    def start(self) -> None:
        self._aps.start()
        log("info", "schedules-started", jobs=self.jobs)

    def poll(self, repository: Repository) -> None:
        log("info", "poll", repository=repository.name)
        self.scheduler.request(repository)

    def check_drift(self, repository: Repository) -> None:
        options = DriftOptions(
            location=repository.url,
            state_dir=self.state_dir,
            ref=repository.branch,
            targets=repository.targets,
            cache_dir=self.cache_dir,
            admin_url=repository.envoy_admin,
            claims=self.scheduler.claims,  # another replica checks the targets it syncs
        )
        try:
            # The workers' lock: a sync's half-written target is not a drift.
            with self.scheduler.targets_lock:
                found = detect(options, self.store, lambda _message: None)
        except MeshrcError as exc:
            log("error", "drift-failed", repository=repository.name, error=str(exc))
            return
        except Exception as exc:  # a job must survive whatever one check does
            log("error", "drift-crashed", repository=repository.name, error=repr(exc))
            return
        finally:
            self.drift_checks += 1
        for target in found:
            if target.error:
                log("warning", "drift-unchecked", repository=repository.name,
                    target=target.target, error=target.error)  # fmt: skip
                continue
            if target.drifts:
                self.drift_detected.labels(target.target).inc(len(target.drifts))
            log("warning" if target.drifts else "info", "drift-checked",
                repository=repository.name, target=target.target, mode=target.mode,
                drifts=len(target.drifts), unhealed=len(target.unhealed))  # fmt: skip

    def shutdown(self, timeout: float) -> bool:
        """No new runs; wait up to ``timeout`` for a running one. True if none is left."""
        if not self._aps.running:
            return True
        # shutdown stops the scheduler at once (no new runs), then waits for the executor
        waiter = threading.Thread(target=self._aps.shutdown, name="schedules-stop", daemon=True)
        waiter.start()
        waiter.join(timeout)
        return not waiter.is_alive()
