"""Several ``meshrc serve`` replicas, leader election per target through Kubernetes Leases on a
real API server.

- Electors in one process: every target held by exactly one; two racing for a lease, one wins;
  a released lease is taken over at the next round, an expired one once it expired; with
  rounds a minute apart, the watch alone acts on a push, a join and released leases.
- Two real ``meshrc serve`` processes, one PostgreSQL store, five Envoy-folder targets: every
  target synced by exactly one replica, both busy; SIGKILL one and the survivor applies the
  next commit everywhere; a third replica joins, gets SIGTERM, and its targets are taken over
  at once. Per target, the syncs of different replicas never overlap (from the JSON logs).
- A push: a webhook to one replica has the other's targets synced too (member leases carry
  the push), with no poll schedule.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from state.conftest import Postgres, postgres  # noqa: F401  (the fixture)
from sync.test_envoy_target import Repository as MeshRepository

from reconciler.errors import UsageError
from reconciler.serve.config import LeaderElection, load_config
from reconciler.serve.config import Repository as Followed
from reconciler.serve.leases import Elector, lease_name
from reconciler.serve.metrics import Metrics
from reconciler.serve.ring import owner
from reconciler.serve.scheduler import Scheduler
from reconciler.state import SyncResult, open_store
from reconciler.testenv import TestEnv
from serve.helpers import SECRET, push_body, signed
from serve.test_command import MESHRC, ROOT, free_port

TARGETS = [f"edge-{n}" for n in range(5)]


def wait(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def electors(
    kube_env: TestEnv, namespace: str, *identities: str, lease: str = "4s", renew: str = "1s"
) -> Iterator[list[Elector]]:
    settings = LeaderElection(
        namespace=namespace, leaseDuration=lease, renewPeriod=renew, kubeconfig=kube_env.kubeconfig
    )
    made = [Elector(settings, identity, Metrics()) for identity in identities]
    try:
        yield made
    finally:
        for elector in made:
            elector.stop()


def holder(kube_api: Any, namespace: str, target: str) -> str | None:
    leases = kubernetes.client.CoordinationV1Api(kube_api)
    lease = leases.read_namespaced_lease(lease_name("target", target), namespace)
    return lease.spec.holder_identity


def test_two_electors_hold_every_target_exactly_once(
    kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    with electors(kube_env, kube_namespace, "replica-a", "replica-b") as (a, b):
        for elector in (a, b):
            elector.start(threading.Lock(), lambda: None)
        a.round()  # b joined after a's start
        for target in TARGETS:
            assert [a.claims(target), b.claims(target)].count(True) == 1
        expected = {t: owner(t, ["replica-a", "replica-b"]) for t in TARGETS}
        assert {t: holder(kube_api, kube_namespace, t) for t in TARGETS} == expected
        assert a.held == {t for t, who in expected.items() if who == "replica-a"}
        assert b.held == {t for t, who in expected.items() if who == "replica-b"}
        assert a.metrics.leader.labels(next(iter(a.held))).collect()[0].samples[0].value == 1


def test_of_two_racing_for_a_lease_one_wins(
    kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """Neither elector knows the other (not started): both think every target is theirs, and
    the resourceVersion (HTTP 409) decides. First the leases are created, then replaced."""
    targets = [f"race-{n}" for n in range(12)]

    def race(first: Elector, second: Elector) -> dict[str, str]:
        winners = {}
        with ThreadPoolExecutor(2) as pool:
            for target in targets:
                barrier = threading.Barrier(2)

                def claim(elector: Elector, target: str = target, barrier: Any = barrier) -> bool:
                    barrier.wait()
                    return elector.claims(target)

                answers = list(pool.map(claim, (first, second)))
                assert answers.count(True) == 1, (target, answers)
                winners[target] = (first, second)[answers.index(True)].identity
        return winners

    with electors(kube_env, kube_namespace, "racer-a", "racer-b") as (a, b):
        created = race(a, b)
        assert {t: holder(kube_api, kube_namespace, t) for t in targets} == created
    # both stopped: every lease released, to be replaced by the next racers
    assert {holder(kube_api, kube_namespace, t) for t in targets} == {None}
    with electors(kube_env, kube_namespace, "racer-c", "racer-d") as (c, d):
        replaced = race(c, d)
        assert {t: holder(kube_api, kube_namespace, t) for t in targets} == replaced


def test_a_released_lease_is_taken_over_at_the_next_round(
    kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    acquired = threading.Event()
    # a lease far longer than the test: only the release can hand the targets over
    with electors(kube_env, kube_namespace, "replica-a", "replica-b", lease="10m") as (a, b):
        a.start(threading.Lock(), lambda: None)
        b.start(threading.Lock(), acquired.set)
        a.round()
        for target in TARGETS:
            for elector in (a, b):
                elector.claims(target)
        theirs = a.held
        assert theirs and not theirs & b.held
        acquired.clear()
        a.stop()
        b.round()
        assert b.held == set(TARGETS) and acquired.is_set()
        assert {holder(kube_api, kube_namespace, t) for t in TARGETS} == {"replica-b"}


def test_an_expired_lease_is_taken_over_and_its_old_holder_knows(
    kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    with electors(kube_env, kube_namespace, "old", "new", lease="2s") as (old, new):
        assert old.claims("edge") is True  # never renewed: nobody runs old's rounds
        assert new.claims("edge") is False
        wait(lambda: new.claims("edge"), timeout=30, what="the lease to expire")
        assert old.claims("edge") is False and old.held == set()
        assert holder(kube_api, kube_namespace, "edge") == "new"


def test_a_push_one_replica_received_reaches_the_others(
    kube_env: TestEnv, kube_namespace: str
) -> None:
    """A webhook reaches one replica: it notes the push on its member lease, and the others
    act on it at their next round, once per push."""
    heard: dict[str, list[str]] = {"replica-a": [], "replica-b": []}
    with electors(kube_env, kube_namespace, "replica-a", "replica-b", lease="10m") as (a, b):
        for elector in (a, b):
            elector.start(threading.Lock(), lambda: None, heard[elector.identity].append)
        a.announce("mesh")
        a.round()  # what the woken thread does at once; called here to be sure it ran
        b.round()
        assert heard == {"replica-a": [], "replica-b": ["mesh"]}
        b.round()
        assert heard["replica-b"] == ["mesh"], "one push, one sync"
        a.announce("mesh")
        a.announce("other")
        a.round()
        b.round()
        assert heard == {"replica-a": [], "replica-b": ["mesh", "mesh", "other"]}


def test_the_watch_starts_a_round_at_once(kube_env: TestEnv, kube_namespace: str) -> None:
    """Rounds a minute apart: only the watch can act within seconds, on a push another
    replica noted and on the leases it released when it stopped."""
    heard: list[str] = []
    with electors(kube_env, kube_namespace, "replica-a", "replica-b", lease="10m", renew="60s") as (
        a,
        b,
    ):
        a.start(threading.Lock(), lambda: None)
        for target in TARGETS:
            assert a.claims(target)  # alone: every target is a's
        b.start(threading.Lock(), lambda: None, heard.append)
        for target in TARGETS:
            b.claims(target)  # now b knows the targets; a holds them all
        ring = {who: {t for t in TARGETS if owner(t, [a.identity, b.identity]) == who}
                for who in (a.identity, b.identity)}  # fmt: skip
        # b joined: a's round hands b its share, and b's round takes it
        wait(lambda: (a.held, b.held) == (ring[a.identity], ring[b.identity]), timeout=10,
             what="the targets shared out")  # fmt: skip
        a.announce("mesh")
        wait(lambda: heard == ["mesh"], timeout=10, what="b acting on a's push")
        a.stop()
        wait(lambda: b.held == set(TARGETS), timeout=10, what="b taking a's released leases")


@pytest.mark.usefixtures("envoy_binary")
def test_a_target_gone_from_meshrc_yaml_lets_its_lease_go(
    kube_env: TestEnv, kube_api: Any, kube_namespace: str, tmp_path: Path
) -> None:
    """Real syncs through the scheduler: the targets meshrc.yaml names are leased; once a
    commit drops one, its lease is released (and its leader gauge is 0)."""
    repo = MeshRepository(tmp_path / "repo", 0)

    def name_targets(*names: str) -> None:
        targets = [{"name": n, "type": "envoy", "namespace": "t"} for n in names]
        (repo.root / "meshrc.yaml").write_text(yaml.safe_dump({"targets": targets}))
        repo.commit(80, 20, f"targets {', '.join(names)}")

    followed = Followed(name="mesh", url=str(repo.root))
    with (
        electors(kube_env, kube_namespace, "replica-a", lease="10m") as (elector,),
        open_store(None, tmp_path / "state") as store,
    ):
        scheduler = Scheduler(
            (followed,), store, elector.metrics, tmp_path / "state", None, election=elector
        )
        elector.start(scheduler.targets_lock, lambda: None)
        name_targets("edge-0", "edge-1")
        scheduler.run_sync(followed)
        assert elector.held == {"edge-0", "edge-1"}
        name_targets("edge-0")
        scheduler.run_sync(followed)
        wait(lambda: elector.held == {"edge-0"}, timeout=10, what="edge-1's lease let go")
        assert holder(kube_api, kube_namespace, "edge-1") is None
        assert elector.metrics.leader.labels("edge-1").collect()[0].samples[0].value == 0
        scheduler.shutdown(10)


def test_a_long_dead_member_is_forgotten(
    kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    leases = kubernetes.client.CoordinationV1Api(kube_api)
    labels = {"app.kubernetes.io/managed-by": "meshrc", "meshrc.io/role": "member"}
    ghost = lease_name("member", "ghost")
    body = {
        "metadata": {"name": ghost, "labels": labels},
        "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 2,
                 "renewTime": "2020-01-01T00:00:00.000001Z"},
    }  # fmt: skip
    leases.create_namespaced_lease(kube_namespace, kubernetes.client.V1Lease.from_dict(body))
    with electors(kube_env, kube_namespace, "alive", lease="2s") as (alive,):
        alive.start(threading.Lock(), lambda: None)
        left = leases.list_namespaced_lease(kube_namespace).items
        assert [lease.metadata.name for lease in left] == [lease_name("member", "alive")]


def test_lease_names_are_valid_and_distinct() -> None:
    assert lease_name("target", "edge-0") == "meshrc-target-edge-0"
    odd = [lease_name("target", name) for name in ("Edge_0", "edge-0_", "édge 0", "x" * 300)]
    assert len(set(odd)) == len(odd)
    for name in odd:
        assert len(name) <= 253 and name == name.lower() and name[-1].isalnum()
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_a_renew_period_over_half_the_lease_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("leaderElection: {namespace: meshrc, leaseDuration: 10s, renewPeriod: 6s}\n")
    with pytest.raises(UsageError, match="at most half of leaseDuration"):
        load_config(path)
    path.write_text("leaderElection: {namespace: meshrc}\n")
    election = load_config(path).leader_election
    assert election is not None
    assert (election.lease_seconds, election.renew_seconds) == (15, 5)


# --- two real `meshrc serve` processes -------------------------------------------------------


@dataclass
class Replica:
    identity: str
    process: subprocess.Popen[str]
    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    killed_at: datetime | None = None

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("event") == event]

    def held(self) -> set[str]:
        """The targets whose lease it holds, as its log says."""
        held: set[str] = set()
        for logged in list(self.events):
            if logged.get("event") == "lease-acquired":
                held.add(logged["target"])
            elif logged.get("event") in ("lease-released", "lease-lost"):
                held.discard(logged["target"])
        return held

    def intervals(self) -> dict[str, list[tuple[datetime, datetime]]]:
        """Per target, when its syncs ran: from the sync's start to its target's finish (the
        worker syncs one at a time); a sync cut short by a kill lasts until the kill, for the
        targets held then."""
        found: dict[str, list[tuple[datetime, datetime]]] = {}
        started: datetime | None = None
        for logged in list(self.events):
            if logged.get("event") == "sync-started":
                started = _time(logged)
            elif logged.get("event") == "sync-finished" and started is not None:
                found.setdefault(logged["target"], []).append((started, _time(logged)))
            elif logged.get("event") in ("sync-failed", "sync-crashed"):
                started = None
        last = [e for e in self.events if e.get("event") in ("sync-started", "sync-finished")]
        if self.killed_at and last and last[-1]["event"] == "sync-started":
            for target in self.held():
                found.setdefault(target, []).append((_time(last[-1]), self.killed_at))
        return found


def _time(logged: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(logged["time"])


def _read(replica: Replica) -> None:
    assert replica.process.stderr is not None
    for line in replica.process.stderr:
        if line.startswith("{"):
            replica.events.append(json.loads(line))


class Replicas:
    """Real ``meshrc serve`` processes on one serve.yaml, one PostgreSQL store and one API
    server, following a repository with the five Envoy-folder targets."""

    def __init__(
        self, kube_env: TestEnv, kube_api: Any, namespace: str, store_url: str, tmp_path: Path,
        poll: bool,
    ) -> None:  # fmt: skip
        self.kube_api, self.namespace, self.store_url = kube_api, namespace, store_url
        self.tmp_path = tmp_path
        self.repo = MeshRepository(tmp_path / "repo", 0)
        targets = [{"name": t, "type": "envoy", "namespace": "t"} for t in TARGETS]
        (self.repo.root / "meshrc.yaml").write_text(yaml.safe_dump({"targets": targets}))
        self.repo.commit(80, 20, "five targets")
        repository: dict[str, Any] = {"name": "mesh", "url": str(self.repo.root)}
        if poll:
            repository["poll"] = {"interval": "1s"}
        election = {"namespace": namespace, "leaseDuration": "3s", "renewPeriod": "1s",
                    "kubeconfig": str(kube_env.kubeconfig)}  # fmt: skip
        self.config = tmp_path / "serve.yaml"
        self.config.write_text(
            yaml.safe_dump({"repositories": [repository], "leaderElection": election})
        )
        self.started: list[Replica] = []

    def start(self, identity: str) -> Replica:
        port = free_port()
        command = [*MESHRC, "serve", "--config", str(self.config), "--port", str(port)]
        command += ["--identity", identity, "--state", self.store_url]
        command += ["--state-dir", str(self.tmp_path / "state")]  # the targets' folders, shared
        env = {
            **os.environ,
            "MESHRC_CACHE_DIR": str(self.tmp_path / f"cache-{identity}"),
            "MESHRC_WEBHOOK_SECRET": SECRET,
        }
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        replica = Replica(identity, process, f"http://127.0.0.1:{port}")
        threading.Thread(target=_read, args=(replica,), daemon=True).start()
        self.started.append(replica)
        return replica

    def stop(self) -> None:
        for replica in self.started:
            if replica.process.poll() is None:
                replica.process.kill()
            replica.process.wait(30)

    def settled(self, *members: str) -> bool:
        """Every target's lease held by its owner on the ring of ``members``."""
        try:
            return all(
                holder(self.kube_api, self.namespace, t) == owner(t, members) for t in TARGETS
            )
        except kubernetes.client.ApiException:
            return False  # a lease not created yet

    def applied(self, commit: str) -> bool:
        with open_store(self.store_url, self.tmp_path / "unused") as store:
            return all(
                any(r.commit == commit and r.result == SyncResult.APPLIED
                    for r in store.history(target=t))
                for t in TARGETS
            )  # fmt: skip

    def synced(self, commit: str) -> dict[str, set[str]]:
        """Per target, the replicas that synced ``commit`` (from their logs)."""
        found: dict[str, set[str]] = {t: set() for t in TARGETS}
        for replica in self.started:
            for logged in replica.of("sync-finished"):
                if logged["commit"] == commit:
                    found[logged["target"]].add(replica.identity)
        return found


@pytest.mark.usefixtures("envoy_binary")
def test_replicas_share_the_targets_and_take_over(
    kube_env: TestEnv,
    kube_api: Any,
    kube_namespace: str,
    postgres: Postgres,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    store_url = postgres.fresh_schema("meshrc_leases")
    mesh = Replicas(kube_env, kube_api, kube_namespace, store_url, tmp_path, poll=True)
    repo = mesh.repo
    try:
        a, b = mesh.start("replica-a"), mesh.start("replica-b")
        wait(lambda: mesh.settled("replica-a", "replica-b"), what="the targets shared by a and b")
        first = repo.commit(70, 30, "70/30")
        wait(lambda: mesh.applied(first), what=f"{first} applied everywhere")
        by = mesh.synced(first)
        assert all(len(who) == 1 for who in by.values()), by
        assert set().union(*by.values()) == {"replica-a", "replica-b"}
        assert all(e["replica"] == "replica-a" for e in a.events)  # the logs say who

        # SIGKILL: nothing released; the survivor waits for the leases to expire
        a_targets = a.held()
        a.process.kill()
        a.killed_at = datetime.now().astimezone()
        killed = time.monotonic()
        second = repo.commit(60, 40, "60/40")
        wait(lambda: mesh.applied(second), what=f"{second} applied by the survivor")
        after_kill = time.monotonic() - killed
        assert all(who == {"replica-b"} for who in mesh.synced(second).values())
        takeover_kill = _takeover(b, a_targets, a.killed_at)

        # SIGTERM: a third replica joins, takes its share, stops, and releases it
        c = mesh.start("replica-c")
        wait(lambda: mesh.settled("replica-b", "replica-c"), what="the targets shared by b and c")
        c_targets = c.held()
        assert c_targets
        c.process.send_signal(signal.SIGTERM)
        terminated = datetime.now().astimezone()
        stopped = time.monotonic()
        third = repo.commit(50, 50, "50/50")
        wait(lambda: mesh.applied(third), what=f"{third} applied after c stopped")
        after_term = time.monotonic() - stopped
        assert c.process.wait(30) == 0
        takeover_term = _takeover(b, c_targets, terminated)
        print(
            f"\ntakeover after SIGKILL: leases {takeover_kill:.2f}s, new commit everywhere "
            f"{after_kill:.2f}s (leaseDuration 3s)\ntakeover after SIGTERM: leases "
            f"{takeover_term:.2f}s, new commit everywhere {after_term:.2f}s"
        )
    finally:
        mesh.stop()

    # never two replicas syncing one target at once
    spans = {replica.identity: replica.intervals() for replica in mesh.started}
    for target in TARGETS:
        for one, other in itertools.combinations(spans, 2):
            for begin, end in spans[one].get(target, []):
                for other_begin, other_end in spans[other].get(target, []):
                    assert end <= other_begin or other_end <= begin, (target, one, other)


@pytest.mark.usefixtures("envoy_binary")
def test_a_webhook_to_one_replica_syncs_every_target(
    kube_env: TestEnv,
    kube_api: Any,
    kube_namespace: str,
    postgres: Postgres,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    """No poll schedule: the push reaches replica a only (as a Service would send it), and
    the targets replica b holds get the commit too, through the member leases."""
    store_url = postgres.fresh_schema("meshrc_pushes")
    mesh = Replicas(kube_env, kube_api, kube_namespace, store_url, tmp_path, poll=False)
    try:
        a, b = mesh.start("replica-a"), mesh.start("replica-b")
        wait(lambda: mesh.settled("replica-a", "replica-b"), what="the targets shared by a and b")
        wait(lambda: mesh.applied(str(mesh.repo.repo.head.target)), what="the first sync")
        pushed = mesh.repo.commit(70, 30, "70/30")
        body = push_body("generic", "mesh")
        sent = time.monotonic()
        request = urllib.request.Request(
            f"{a.url}/webhooks/generic", body, signed("generic", body, "push-1")
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        wait(lambda: mesh.applied(pushed), what=f"{pushed} applied everywhere")
        print(f"\nwebhook to one replica -> every target applied: {time.monotonic() - sent:.2f}s")
        by = mesh.synced(pushed)
        assert all(len(who) == 1 for who in by.values()), by
        assert set().union(*by.values()) == {"replica-a", "replica-b"}
        assert b.of("webhook") == []  # b never saw the webhook
    finally:
        mesh.stop()


def _takeover(survivor: Replica, targets: set[str], since: datetime) -> float:
    """Seconds from ``since`` until the survivor held the last of ``targets``."""
    taken: dict[str, datetime] = {}
    for logged in survivor.of("lease-acquired"):
        if logged["target"] in targets and _time(logged) >= since:
            taken.setdefault(logged["target"], _time(logged))
    assert set(taken) == targets
    return (max(taken.values()) - since).total_seconds()
