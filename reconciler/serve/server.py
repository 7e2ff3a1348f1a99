"""Run the app with uvicorn; on SIGTERM or SIGINT stop accepting, let a sync in flight end
(a bounded wait), and return."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from reconciler.policy.engines import Engine
from reconciler.serve.app import create_app
from reconciler.serve.config import ServeConfig
from reconciler.serve.leases import Elector, default_identity
from reconciler.serve.logs import bind, log
from reconciler.serve.metrics import Metrics
from reconciler.serve.scheduler import Scheduler
from reconciler.serve.schedules import Schedules
from reconciler.state import StateStore


class _Server(uvicorn.Server):
    """uvicorn's server, but a signal ends :meth:`run` normally: uvicorn raises the captured
    signal again once it has stopped, which would kill the process before the syncs end."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {signum: signal.signal(signum, self.handle_exit) for signum in signals}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def serve(
    config: ServeConfig,
    store: StateStore,
    *,
    host: str,
    port: int,
    state_dir: Path,
    cache_dir: Path | None,
    shutdown_timeout: float = 60.0,
    debounce: float = 0.5,
    engine: Engine | None = None,
    identity: str | None = None,
) -> bool:
    """Serve until a signal; True when every sync in flight ended (finished or abandoned).
    ``identity`` names this replica in the logs and in leader election."""
    identity = identity or default_identity()
    bind(replica=identity)
    metrics = Metrics()
    election = config.leader_election
    elector = Elector(election, identity, metrics) if election else None
    scheduler = Scheduler(
        config.repositories, store, metrics, state_dir, cache_dir, debounce, engine, elector
    )
    schedules = Schedules(config.repositories, scheduler, store, metrics, state_dir, cache_dir)
    app = create_app(config, store, scheduler, metrics)
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=10,
        )
    )
    log("info", "serving", host=host, port=port,
        repositories=[r.name for r in config.repositories])  # fmt: skip
    if elector:
        elector.start(
            scheduler.targets_lock, lambda: _sync_all(config, scheduler), scheduler.request_named
        )
    schedules.start()
    try:
        server.run()  # handles SIGINT and SIGTERM: stops accepting, ends open requests
    finally:
        log("info", "stopping", waiting_seconds=shutdown_timeout)
        deadline = time.monotonic() + shutdown_timeout
        finished = schedules.shutdown(shutdown_timeout)  # no new polls or checks
        finished = scheduler.shutdown(max(0.0, deadline - time.monotonic())) and finished
        if elector:
            elector.stop()  # after the syncs: the leases go when nothing uses them
        log("info" if finished else "warning", "stopped", syncs_ended=finished)
    return finished


def _sync_all(config: ServeConfig, scheduler: Scheduler) -> None:
    """A sync of every repository: the targets of leases just taken are synced at once."""
    for repository in config.repositories:
        scheduler.request(repository)
