"""Takeover: how long until a surviving ``meshrc serve`` replica syncs the targets of one that
stopped, through Kubernetes Leases on a real API server (etcd and kube-apiserver started by
``reconciler.testenv``; build them once with ``python -m reconciler.testenv build``).

Two replicas (real ``meshrc serve`` processes, a 1 s poll, one shared SQLite history) follow a
repository with six Envoy-folder targets. Each round starts two fresh replicas, waits until
every target's Lease is held by the replica the ring gives it to, then stops one (SIGKILL and
SIGTERM in turn) and commits a routing change. Measured from the signal: when the survivor
holds every Lease, and when the new commit is recorded applied on every target.

    python benchmarks/bench_takeover.py [--rounds 4] [--lease 15s] [--renew 5s]

A killed replica's Leases expire after leaseDuration; a stopped one releases them. Prints the
rounds, a summary per signal, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from sync.test_envoy_target import Repository  # noqa: E402

from reconciler.processes import free_port, stop_process  # noqa: E402
from reconciler.serve.leases import lease_name  # noqa: E402
from reconciler.serve.ring import owner  # noqa: E402
from reconciler.state import SyncResult, open_store  # noqa: E402
from reconciler.testenv import TestEnv  # noqa: E402

TARGETS = [f"edge-{n}" for n in range(6)]
NAMESPACE = "meshrc"
MESHRC = [sys.executable, "-c", "from reconciler.cli.main import main; main()"]


def wait(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> float:
    """Seconds until ``condition`` held (checked every 50 ms)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def holders(api: Any) -> dict[str, str | None]:
    leases = kubernetes.client.CoordinationV1Api(api)
    found: dict[str, str | None] = {}
    for target in TARGETS:
        try:
            spec = leases.read_namespaced_lease(lease_name("target", target), NAMESPACE).spec
            found[target] = spec.holder_identity
        except kubernetes.client.ApiException:
            found[target] = None
    return found


def applied_everywhere(state: str, directory: Path, commit: str) -> bool:
    with open_store(state, directory) as store:
        return all(
            any(r.commit == commit and r.result == SyncResult.APPLIED for r in store.history(t))
            for t in TARGETS
        )


def one_round(
    api: Any,
    repo: Repository,
    replicas: list[subprocess.Popen[bytes]],
    names: tuple[str, str],
    round_: int,
    how: str,
    state: str,
    work: Path,
) -> tuple[float, float]:
    """Once the targets are shared out: a routing commit, the first replica stopped; seconds
    until the second holds every lease, and until the commit is applied on every target."""
    wait(lambda: holders(api) == {t: owner(t, names) for t in TARGETS}, "the targets shared out")
    v1 = 79 - round_  # a split no earlier round had: the commit changes every target
    commit = repo.commit(v1, 100 - v1, f"{v1}/{100 - v1}, then {how} to {names[0]}")
    stopped = time.monotonic()
    replicas[0].send_signal(signal.SIGKILL if how == "SIGKILL" else signal.SIGTERM)
    leases = wait(lambda: set(holders(api).values()) == {names[1]}, "the survivor's leases")
    wait(lambda: applied_everywhere(state, work, commit), "the commit applied everywhere")
    return leases, time.monotonic() - stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, choices=range(1, 60), metavar="N")
    parser.add_argument("--lease", default="15s", help="leaseDuration (the chart's default)")
    parser.add_argument("--renew", default="5s", help="renewPeriod (the chart's default)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="meshrc-bench-takeover-"))
    results: dict[str, list[tuple[float, float]]] = {"SIGKILL": [], "SIGTERM": []}
    with TestEnv(work / "kube", namespaces=[NAMESPACE]) as env:
        api = kubernetes.config.new_client_from_config(config_file=str(env.kubeconfig))
        repo = Repository(work / "repo", 0)
        targets = [{"name": t, "type": "envoy", "namespace": "t"} for t in TARGETS]
        (repo.root / "meshrc.yaml").write_text(yaml.safe_dump({"targets": targets}))
        repo.commit(80, 20, f"{len(TARGETS)} targets")
        election = {"namespace": NAMESPACE, "leaseDuration": args.lease,
                    "renewPeriod": args.renew, "kubeconfig": str(env.kubeconfig)}  # fmt: skip
        repository = {"name": "mesh", "url": str(repo.root), "poll": {"interval": "1s"}}
        config = work / "serve.yaml"
        config.write_text(
            yaml.safe_dump({"repositories": [repository], "leaderElection": election})
        )
        state = f"sqlite:///{work / 'history.db'}"

        def start(identity: str) -> subprocess.Popen[bytes]:
            command = [*MESHRC, "serve", "--config", str(config), "--port", str(free_port())]
            command += ["--identity", identity, "--state", state, "--state-dir", str(work)]
            env_vars = {**os.environ, "MESHRC_CACHE_DIR": str(work / f"cache-{identity}")}
            log = (work / f"{identity}.log").open("wb")
            return subprocess.Popen(command, stderr=log, env=env_vars)

        for round_ in range(args.rounds):
            how = ("SIGKILL", "SIGTERM")[round_ % 2]
            names = (f"a{round_}", f"b{round_}")
            replicas = [start(name) for name in names]
            try:
                leases, everywhere = one_round(api, repo, replicas, names, round_, how, state, work)
            finally:
                for process in replicas:
                    stop_process(process)
            results[how].append((leases, everywhere))
            print(f"round {round_ + 1} ({how}): survivor holds every lease after {leases:.2f} s, "
                  f"the new commit applied everywhere after {everywhere:.2f} s")  # fmt: skip
        api.close()
    summary: dict[str, Any] = {
        "benchmark": "meshrc-serve-takeover",
        "lease_duration": args.lease,
        "renew_period": args.renew,
        "targets": len(TARGETS),
        "python": platform.python_version(),
    }
    for how, rounds in results.items():
        if not rounds:
            continue
        leases = [r[0] for r in rounds]
        everywhere = [r[1] for r in rounds]
        print(f"{how}: leases {min(leases):.2f}-{max(leases):.2f} s, the new commit "
              f"everywhere {min(everywhere):.2f}-{max(everywhere):.2f} s "
              f"(median {statistics.median(everywhere):.2f} s, {len(rounds)} rounds)")  # fmt: skip
        summary[how.lower()] = {
            "leases_seconds": [round(x, 2) for x in leases],
            "everywhere_seconds": [round(x, 2) for x in everywhere],
        }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
