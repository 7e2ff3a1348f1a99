"""Leader election between replicas of ``meshrc serve``, per target, through Kubernetes Leases
(coordination.k8s.io/v1) in one namespace (serve.yaml ``leaderElection``).

    members    each replica holds a Lease ``meshrc-member-<identity>`` (labels
               app.kubernetes.io/managed-by=meshrc and meshrc.io/role=member), renewed every
               renewPeriod; the live members are those whose renewTime + leaseDurationSeconds
               is still ahead
    ring       a target belongs to the member the consistent-hash ring gives it to
               (:mod:`reconciler.serve.ring`): every replica works out the same answer
    targets    a replica syncs a target only while the ring gives it the target AND it holds
               the target's Lease ``meshrc-target-<name>``, taken when free, expired or its
               own. Every write carries the resourceVersion read, so of two replicas writing
               at once one gets HTTP 409: two never both hold a lease
    hand-over  a target the ring gives to another member (one joined) is released between
               syncs, never during one; the new owner takes it at its next round and syncs it
               without waiting for a push
    stop       a graceful stop releases every lease and leaves the members: the others take
               over within a renewPeriod. A killed replica's leases expire after leaseDuration
    loss       a lease not renewed for leaseDuration minus the margin (a quarter of it) is
               dropped at once: its target is not synced until it is taken again
    pushes     a webhook reaches one replica (the Service picks it): that replica notes the
               push on its member Lease (annotation meshrc.io/pushes) at once, and the others
               sync that repository too
    watch      each replica watches the Leases: a push noted, a lease released or deleted, or
               a member joining starts its round at once instead of at the next renewPeriod
               (others' renewals do not: two replicas would wake each other without end); a
               lease running out is no event, so a round also starts when the soonest lease
               of another replica that matters runs out

Clocks: renewTime is written with the holder's clock and compared by the others with theirs
(UTC), so the replicas' clocks must agree to well within the margin (NTP does). The holder
counts its own lease's validity on its monotonic clock, from before the renewal was sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
from kubernetes.client import (
    CoordinationV1Api,
    V1DeleteOptions,
    V1Lease,
    V1LeaseSpec,
    V1ObjectMeta,
    V1Preconditions,
)
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import Watch

from reconciler.errors import MeshrcError, TargetError
from reconciler.serve.config import LeaderElection
from reconciler.serve.logs import log
from reconciler.serve.metrics import Metrics
from reconciler.serve.ring import owner
from reconciler.targets.kubernetes import api_client

MANAGED_BY = ("app.kubernetes.io/managed-by", "meshrc")
ROLE = "meshrc.io/role"
TARGET_ANNOTATION = "meshrc.io/target"
PUSHES_ANNOTATION = "meshrc.io/pushes"
"""On a member Lease: ``{"<repository>": "<time of its latest push, ns>"}`` as JSON."""
MANAGED_SELECTOR = f"{MANAGED_BY[0]}={MANAGED_BY[1]}"
MEMBERS_SELECTOR = f"{MANAGED_SELECTOR},{ROLE}=member"
EXPIRY_SLACK = 0.05
"""Seconds after a lease's expiry that the round meant to take it over starts."""
WATCH_SECONDS = 300
"""A watch is ended by the API server after this long and opened again (from scratch)."""
STALE_LEASES = 20
"""A member lease expired this many lease durations ago (its pod was killed) is deleted."""


def default_identity() -> str:
    """The pod's name (the chart sets POD_NAME), else ``<hostname>-<pid>``."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def lease_name(role: str, name: str) -> str:
    """``meshrc-<role>-<name>`` as a valid object name (DNS-1123): other characters become
    dashes, and a name that changed (or is too long) gets a hash of itself appended, so two
    names never share a lease."""
    prefix = f"meshrc-{role}-"
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if cleaned != name or len(prefix + cleaned) > 253:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        cleaned = f"{cleaned[:200]}-{digest}".lstrip("-")
    return prefix + cleaned


def _now() -> datetime:
    now = datetime.now(UTC)
    # a MicroTime needs six fraction digits, and isoformat() writes none on a whole second
    return now.replace(microsecond=now.microsecond or 1)


def _expires_at(lease: V1Lease) -> datetime | None:
    """When the lease runs out; None when nobody holds it."""
    spec = lease.spec
    if spec is None or not spec.holder_identity or spec.renew_time is None:
        return None
    expires: datetime = spec.renew_time + timedelta(seconds=spec.lease_duration_seconds or 0)
    return expires


def _expired(lease: V1Lease, now: datetime) -> bool:
    expires = _expires_at(lease)
    return expires is None or expires <= now


def _holder(lease: V1Lease) -> str | None:
    return lease.spec.holder_identity if lease.spec else None


def _pushes_of(lease: V1Lease) -> dict[str, str]:
    """A member lease's pushes annotation; empty when absent or not what meshrc writes."""
    text = (lease.metadata.annotations or {}).get(PUSHES_ANNOTATION) if lease.metadata else None
    try:
        pushes = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(pushes, dict):
        return {}
    return {k: v for k, v in pushes.items() if isinstance(k, str) and isinstance(v, str)}


class _Conflict(Exception):
    """HTTP 409: another replica wrote the lease first."""


@dataclass
class _Held:
    lease: V1Lease
    """As last written: its resourceVersion is where the next write must start from."""
    valid_until: float
    """time.monotonic() after which the lease may be someone else's."""


class Elector:
    """This replica's leases. :meth:`claims` answers the sync pipeline; a thread renews the
    leases, follows the members and hands targets over."""

    def __init__(self, settings: LeaderElection, identity: str, metrics: Metrics) -> None:
        kubeconfig = str(settings.kubeconfig) if settings.kubeconfig else None
        in_pod = "KUBERNETES_SERVICE_HOST" in os.environ
        in_cluster = in_pod and kubeconfig is None and settings.context is None
        self._client = api_client(kubeconfig, settings.context, in_cluster, "leaderElection")
        self._api = CoordinationV1Api(self._client)
        self.identity = identity
        self.namespace = settings.namespace
        self.duration = settings.lease_seconds
        self.renew_period = settings.renew_seconds
        self.margin = self.duration / 4
        self.metrics = metrics
        self._lock = threading.Lock()
        """Guards what follows; taken after ``between_syncs`` when both are needed."""
        self._held: dict[str, _Held] = {}
        self._known: set[str] = set()
        """Targets met in syncs: the ones this replica may have to take over."""
        self._listed: dict[str, set[str]] = {}
        """Per repository, the targets its last sync named."""
        self._members = frozenset({identity})
        self._stopping = threading.Event()
        self._wake = threading.Event()
        """Set to run a round now (a push to tell the others about), not a renewPeriod later."""
        self._thread: threading.Thread | None = None
        self._between_syncs = threading.Lock()
        self._on_acquired: Callable[[], None] = lambda: None
        self._on_push: Callable[[str], None] = lambda _repository: None
        self._pushes: dict[str, str] = {}
        """This replica's latest push per repository, as its member Lease tells the others."""
        self._seen: dict[tuple[str, str], str] = {}
        """(member, repository): the other members' latest pushes already acted on."""
        self._member_leases: list[V1Lease] = []
        """The live members' leases, as last listed."""
        self._next_expiry: datetime | None = None
        """The soonest another replica's lease runs out (a member's, or a target lease this
        replica waits for): the next round starts then rather than up to a renewPeriod later,
        since the watch does not see a lease expire."""
        self._watched_pushes: dict[str, str | None] = {}
        """Member lease name: its pushes annotation, as the watch last saw it."""

    def start(
        self,
        between_syncs: threading.Lock,
        on_acquired: Callable[[], None],
        on_push: Callable[[str], None] = lambda _repository: None,
    ) -> None:
        """Join the members (a TargetError when the API server refuses) and keep the leases
        from a thread. ``between_syncs`` is the lock every sync holds: a lease is released
        only while the elector holds it, never mid-sync. ``on_acquired`` is called when leases
        were taken, to sync their targets now; and once here, so that the first syncs tell
        the elector the targets' names. ``on_push`` is called with a repository's name when
        another replica received a push to it."""
        self._between_syncs, self._on_acquired, self._on_push = between_syncs, on_acquired, on_push
        self._join()
        self._members = self._live_members() or self._members
        with self._lock:
            self._pushed()  # pushes from before this replica started: its first sync has them
        log("info", "leader-election", namespace=self.namespace, members=sorted(self._members),
            lease_seconds=self.duration, renew_seconds=self.renew_period)  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
        self._thread.start()
        threading.Thread(target=self._watch, name="leases-watch", daemon=True).start()
        on_acquired()

    def announce(self, repository: str) -> None:
        """Tell the other replicas that ``repository`` was pushed to (returns at once)."""
        with self._lock:
            self._pushes[repository] = str(time.time_ns())
        self._wake.set()

    def listed(self, repository: str, targets: set[str]) -> None:
        """A sync of ``repository`` read the targets it names: a target it named before and no
        longer does (nor does another repository) is forgotten, and its lease released."""
        with self._lock:
            before = self._listed.get(repository, set())
            self._listed[repository] = set(targets)
            others = set().union(*(t for r, t in self._listed.items() if r != repository))
            gone = before - targets - others
            self._known -= gone
        if gone:
            self._wake.set()

    def claims(self, target: str) -> bool:
        """True when this replica may sync ``target`` now: the ring gives it the target, and
        it holds the target's lease (taken here when free)."""
        with self._lock:
            self._known.add(target)
            if owner(target, self._members) != self.identity:
                return False
            return self._holds(target) or self._acquire(target)

    @property
    def held(self) -> set[str]:
        with self._lock:
            return {target for target in self._held if self._holds(target)}

    def stop(self) -> None:
        """Release every lease and leave the members, so that the others take over at their
        next round. Call it once no sync runs."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.renew_period + 30)
        with self._lock:
            for target in sorted(self._held):
                self._release(target, reason="stopping")
        try:
            name = lease_name("member", self.identity)
            self._request(self._api.delete_namespaced_lease, name, self.namespace, absent_ok=True)
        except (MeshrcError, _Conflict) as exc:
            log("warning", "leave-failed", error=str(exc))
        self._client.close()  # type: ignore[no-untyped-call]
        log("info", "left", namespace=self.namespace)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._until_next_round())
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.round()
            except Exception as exc:  # the leases' thread must outlive whatever one round meets
                log("error", "lease-round-crashed", error=repr(exc))

    def _until_next_round(self) -> float:
        """Seconds to the next round: a renewPeriod, or less when a lease runs out sooner."""
        with self._lock:
            expiry = self._next_expiry
        if expiry is None:
            return self.renew_period
        remaining = (expiry - datetime.now(UTC)).total_seconds() + EXPIRY_SLACK
        return min(self.renew_period, max(EXPIRY_SLACK, remaining))

    def _expires(self, lease: V1Lease) -> None:
        """Note when another replica's lease runs out."""
        expires = _expires_at(lease)
        if expires is not None and (self._next_expiry is None or expires < self._next_expiry):
            self._next_expiry = expires

    def _watch(self) -> None:
        """Wake the rounds' thread on the Lease changes that call for a round now; a watch that
        fails is opened again a renewPeriod later (the rounds go on meanwhile)."""
        while not self._stopping.is_set():
            try:
                stream = Watch().stream(  # type: ignore[no-untyped-call]
                    self._api.list_namespaced_lease, self.namespace,
                    label_selector=MANAGED_SELECTOR, timeout_seconds=WATCH_SECONDS,
                    _request_timeout=(self.renew_period, WATCH_SECONDS + 30),
                )  # fmt: skip
                for event in stream:
                    if self._stopping.is_set():
                        return
                    if self._calls_for_a_round(event["type"], event["object"]):
                        self._wake.set()
            except Exception as exc:  # the connection, the server, a client closed on stop
                if self._stopping.is_set():
                    return
                log("warning", "lease-watch-failed", error=f"{type(exc).__name__}: {exc}")
                self._stopping.wait(self.renew_period)

    def _calls_for_a_round(self, kind: str, lease: V1Lease) -> bool:
        """Another replica released or deleted a lease, joined, or noted a push."""
        holder = _holder(lease)
        if holder == self.identity or lease.metadata is None:
            return False
        if kind == "DELETED" or not holder:
            return True
        if (lease.metadata.labels or {}).get(ROLE) != "member":
            return False  # another replica's target lease, renewed
        name = lease.metadata.name or ""
        pushes = (lease.metadata.annotations or {}).get(PUSHES_ANNOTATION)
        joined = name not in self._watched_pushes
        changed = self._watched_pushes.get(name) != pushes
        self._watched_pushes[name] = pushes
        return joined or changed

    def round(self) -> None:
        """Renew the membership (telling this replica's pushes) and the leases held; take the
        targets the ring gives this replica; release, between syncs, those it gives to
        another; sync the repositories the other members were pushed to."""
        with self._lock:
            self._next_expiry = None  # noted again by this round: a past one would spin it
        try:
            self._join()
        except MeshrcError as exc:
            log("warning", "membership-renew-failed", error=str(exc))
        members = self._live_members()
        acquired = False
        with self._lock:
            if members and members != self._members:
                log("info", "members-changed", members=sorted(members))
                self._members = members
            for target in sorted(self._known):
                if target in self._held:
                    self._renew(target)  # until released, even when the ring moved it
                elif owner(target, self._members) == self.identity:
                    acquired = self._acquire(target) or acquired
            moving = [t for t in self._held if self._leaving(t)]
            pushed = self._pushed()
        if moving:
            self._release_between_syncs(moving)
        if acquired:
            self._on_acquired()
        for repository in pushed:
            self._on_push(repository)

    def _holds(self, target: str) -> bool:
        held = self._held.get(target)
        if held is None:
            return False
        if time.monotonic() < held.valid_until:
            return True
        self._drop(target, "lease-lost", "warning",
                   reason=f"not renewed for {self.duration - self.margin:g}s")  # fmt: skip
        return False

    def _acquire(self, target: str) -> bool:
        name = lease_name("target", target)
        started, now = time.monotonic(), _now()
        try:
            current = self._request(
                self._api.read_namespaced_lease, name, self.namespace, absent_ok=True
            )
            previous = current.spec.holder_identity if current and current.spec else None
            if current is not None and previous != self.identity and not _expired(current, now):
                self._expires(current)
                return False
            written = self._take(name, current, now, "target", {TARGET_ANNOTATION: target})
        except _Conflict:
            return False  # another replica was quicker
        except MeshrcError as exc:
            log("warning", "lease-acquire-failed", target=target, error=str(exc))
            return False
        self._held[target] = _Held(written, started + self.duration - self.margin)
        self.metrics.leader.labels(target).set(1)
        log("info", "lease-acquired", target=target, lease=name, previous=previous)
        return True

    def _renew(self, target: str) -> None:
        if not self._holds(target):
            return
        held = self._held[target]
        started = time.monotonic()
        assert held.lease.spec is not None  # written by this replica
        held.lease.spec.renew_time = _now()
        try:
            written = self._replace(held.lease)
        except _Conflict:
            self._drop(target, "lease-lost", "warning", reason="another replica wrote it")
            return
        except MeshrcError as exc:
            log("warning", "lease-renew-failed", target=target, error=str(exc))
            return
        held.lease, held.valid_until = written, started + self.duration - self.margin

    def _release_between_syncs(self, targets: list[str]) -> None:
        if not self._between_syncs.acquire(timeout=self.renew_period / 2):
            return  # a sync runs: the next round tries again
        try:
            with self._lock:
                for target in targets:
                    reason = self._leaving(target) if target in self._held else None
                    if reason:
                        self._release(target, reason)
        finally:
            self._between_syncs.release()

    def _leaving(self, target: str) -> str | None:
        """Why this replica lets the lease of ``target`` go (between syncs), if it does."""
        if target not in self._known:
            return "no repository names it any more"
        if owner(target, self._members) != self.identity:
            return "the ring gives it to another replica"
        return None

    def _release(self, target: str, reason: str) -> None:
        lease = self._held[target].lease
        assert lease.spec is not None
        lease.spec.holder_identity = lease.spec.renew_time = lease.spec.acquire_time = None
        try:
            self._replace(lease)
        except _Conflict:
            pass  # someone else's already
        except MeshrcError as exc:
            log("warning", "lease-release-failed", target=target, error=str(exc))
        self._drop(target, "lease-released", "info", reason=reason)

    def _drop(self, target: str, event: str, level: str, **fields: object) -> None:
        del self._held[target]
        self.metrics.leader.labels(target).set(0)
        log(level, event, target=target, **fields)

    def _join(self) -> None:
        """Create or renew this replica's member lease."""
        name = lease_name("member", self.identity)
        current = self._request(
            self._api.read_namespaced_lease, name, self.namespace, absent_ok=True
        )
        with self._lock:
            pushes = {PUSHES_ANNOTATION: json.dumps(self._pushes, sort_keys=True)}
        with contextlib.suppress(_Conflict):  # written since the read: the next round renews it
            self._take(name, current, _now(), "member", pushes)

    def _live_members(self) -> frozenset[str] | None:
        """The identities of the live members (this replica's always); None when unknown."""
        try:
            leases = self._request(
                self._api.list_namespaced_lease, self.namespace, label_selector=MEMBERS_SELECTOR
            )
        except MeshrcError as exc:
            log("warning", "members-unknown", error=str(exc))
            return None
        now = datetime.now(UTC)
        self._member_leases = [lease for lease in leases.items if not _expired(lease, now)]
        with self._lock:
            for lease in self._member_leases:
                if _holder(lease) != self.identity:
                    self._expires(lease)
        live = {member for lease in self._member_leases if (member := _holder(lease))}
        long_ago = now - timedelta(seconds=STALE_LEASES * self.duration)
        for stale in (lease for lease in leases.items if _expired(lease, long_ago)):
            self._delete(stale)
        return frozenset(live | {self.identity})

    def _pushed(self) -> list[str]:
        """The repositories another live member was pushed to since the last look."""
        found = set()
        for lease in self._member_leases:
            member = _holder(lease)
            if member is None or member == self.identity:
                continue
            for repository, at in _pushes_of(lease).items():
                if self._seen.get((member, repository)) != at:
                    self._seen[(member, repository)] = at
                    found.add(repository)
        return sorted(found)

    def _delete(self, lease: V1Lease) -> None:
        """Delete a killed replica's member lease, unless it was written since it was read."""
        assert lease.metadata is not None
        unchanged = V1DeleteOptions(
            preconditions=V1Preconditions(resource_version=lease.metadata.resource_version)
        )
        name, delete = lease.metadata.name, self._api.delete_namespaced_lease
        # a conflict: renewed since; an error: left for the next round
        with contextlib.suppress(_Conflict, MeshrcError):
            self._request(delete, name, self.namespace, body=unchanged, absent_ok=True)

    def _take(
        self,
        name: str,
        current: V1Lease | None,
        now: datetime,
        role: str,
        annotations: dict[str, str],
    ) -> V1Lease:
        """The lease written as this replica's: created when absent, else replaced from the
        resourceVersion read (_Conflict when another replica wrote it since)."""
        seconds = math.ceil(self.duration)
        if current is None:
            lease = V1Lease(
                metadata=V1ObjectMeta(
                    name=name, labels=dict([MANAGED_BY, (ROLE, role)]), annotations=annotations
                ),
                spec=V1LeaseSpec(
                    holder_identity=self.identity, acquire_time=now, renew_time=now,
                    lease_duration_seconds=seconds, lease_transitions=0,
                ),
            )  # fmt: skip
            created: V1Lease = self._request(
                self._api.create_namespaced_lease, self.namespace, lease
            )
            return created
        assert current.metadata is not None
        current.metadata.annotations = {**(current.metadata.annotations or {}), **annotations}
        spec = current.spec or V1LeaseSpec()
        if spec.holder_identity != self.identity:
            spec.acquire_time = now
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
        spec.holder_identity, spec.renew_time, spec.lease_duration_seconds = (
            self.identity, now, seconds,
        )  # fmt: skip
        current.spec = spec
        return self._replace(current)

    def _replace(self, lease: V1Lease) -> V1Lease:
        assert lease.metadata is not None and lease.metadata.name is not None
        name = lease.metadata.name
        written: V1Lease = self._request(
            self._api.replace_namespaced_lease, name, self.namespace, lease
        )
        return written

    def _request(self, call: Callable[..., Any], *args: Any, absent_ok: bool = False,
                 **kwargs: Any) -> Any:  # fmt: skip
        """One call of the typed client: _Conflict on HTTP 409, None on 404 when
        ``absent_ok``, a TargetError otherwise. A request slower than a round failed."""
        try:
            return call(*args, **kwargs, _request_timeout=self.renew_period)
        except ApiException as exc:
            if exc.status == 409:
                raise _Conflict from None
            if exc.status == 404 and absent_ok:
                return None
            raise TargetError(
                f"leader election: Leases in namespace {self.namespace}: "
                f"HTTP {exc.status} {exc.reason}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TargetError(f"leader election: the API server is unreachable: {reason}") from None
