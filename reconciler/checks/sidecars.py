"""Checks of Sidecars: istioctl's sidecar.SelectorAnalyzer, and egress hosts that import nothing.

istiod gives a proxy the first Sidecar of its namespace whose ``workloadSelector`` selects it,
else the namespace's Sidecar without selector, else the mesh-wide default (the selector-less
Sidecar of the root namespace). Two candidates at one step leave the choice to creation times
that files do not have, hence IST0110 and IST0111.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from reconciler.findings import Finding
from reconciler.model.hosts import covers, fqdn, visible
from reconciler.model.resources import Resource
from reconciler.model.sidecar import ANY_NAMESPACE, EgressImport, SidecarSpec, egress_import
from reconciler.model.snapshot import Snapshot

Sidecar = Resource[SidecarSpec]

DATAPLANE_MODE = "istio.io/dataplane-mode"
INJECT_LABEL = "sidecar.istio.io/inject"


def check_sidecars(snap: Snapshot) -> Iterator[Finding]:
    yield from _selectors(snap)
    yield from _egress_hosts(snap)
    for sidecar in snap.sidecars:
        policy = sidecar.spec.outbound_traffic_policy
        if policy is not None and policy.egress_proxy is not None:
            yield Finding.of(
                "deprecated",
                "spec.outboundTrafficPolicy.egressProxy is ignored by istiod",
                **sidecar.where("spec.outboundTrafficPolicy.egressProxy"),
            )


def _ambient(snap: Snapshot, namespace: str) -> bool:
    """istioctl's test: ambient's dataplane-mode label, and no sidecar-injection label."""
    labels = snap.namespace_labels.get(namespace, {})
    if labels.get("istio-injection") == "enabled" or labels.get("istio.io/rev"):
        return False
    return labels.get(DATAPLANE_MODE) == "ambient"


def _names(sidecars: Iterable[Sidecar]) -> str:
    return ", ".join(sorted(s.name for s in sidecars))


def _selectors(snap: Snapshot) -> Iterator[Finding]:
    """IST0101 (selects nothing), IST0110 (a workload selected twice), IST0111 (two namespace
    defaults) and IST0167 (a Sidecar where ambient runs no sidecar)."""
    defaults: dict[str, list[Sidecar]] = defaultdict(list)
    selected_by: dict[int, tuple[dict[str, str], list[Sidecar]]] = {}
    """Workloads by identity (the index hands out the same label dict for one workload)."""
    for sidecar in snap.sidecars:
        selector = sidecar.spec.selector()
        if not selector:
            defaults[sidecar.namespace].append(sidecar)
            continue
        matched = snap.workloads.select(sidecar.namespace, selector)
        if not matched:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
            yield Finding.of(
                "sidecar-selector-matches-nothing",
                f"workloadSelector {shown} matches no workload of namespace "
                f"{sidecar.namespace} in the files: this Sidecar applies to no proxy",
                **sidecar.where("spec.workloadSelector.labels"),
            )
        elif _ambient(snap, sidecar.namespace) and not any(
            labels.get(INJECT_LABEL) == "true" for labels in matched
        ):
            yield _ineffective(sidecar, "its workloads run in ambient mode, without a sidecar")
        else:
            for labels in matched:
                selected_by.setdefault(id(labels), (labels, []))[1].append(sidecar)
    yield from _conflicts(selected_by.values())
    for namespace, sidecars in defaults.items():
        if _ambient(snap, namespace):
            for sidecar in sidecars:
                yield _ineffective(sidecar, f"namespace {namespace} runs in ambient mode")
        elif len(sidecars) > 1:
            for sidecar in sidecars:
                yield Finding.of(
                    "multiple-default-sidecars",
                    f"the Sidecars {_names(sidecars)} of namespace {namespace} have no "
                    "workloadSelector: istiod applies only one of them (the oldest), so which "
                    "one is undefined",
                    **sidecar.where("metadata.name"),
                )


def _conflicts(workloads: Iterable[tuple[dict[str, str], list[Sidecar]]]) -> Iterator[Finding]:
    """One finding per Sidecar that shares a workload, naming the first such workload."""
    shared: dict[int, tuple[Sidecar, dict[str, str], set[str]]] = {}
    for labels, sidecars in workloads:
        if len(sidecars) < 2:
            continue
        for sidecar in sidecars:
            entry = shared.setdefault(id(sidecar), (sidecar, labels, set()))
            entry[2].update(s.name for s in sidecars)
    for sidecar, labels, names in sorted(
        shared.values(), key=lambda e: (e[0].namespace, e[0].name)
    ):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        yield Finding.of(
            "conflicting-sidecar-selectors",
            f"the Sidecars {', '.join(sorted(names))} of namespace {sidecar.namespace} select "
            f"the same workload ({shown}): istiod applies only one of them, which one is "
            "undefined",
            **sidecar.where("metadata.name"),
        )


def _ineffective(sidecar: Sidecar, reason: str) -> Finding:
    return Finding.of(
        "ineffective-policy",
        f"this Sidecar has no effect: {reason}",
        **sidecar.where("metadata.name"),
    )


class _Names:
    """Host names with their namespaces, answering "is there a name this dnsName admits?" without a
    scan: exact names in a dict, every name also in a list sorted by its reversed text, so that
    the names under ``*.example.com`` are one contiguous range (``moc.elpmaxe.`` prefix)."""

    def __init__(self, entries: Iterable[tuple[str, str, Any]]) -> None:
        self.exact: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        self.wildcards: list[tuple[str, str, Any]] = []
        reversed_names: list[tuple[str, str, Any]] = []
        for host, namespace, item in entries:
            self.exact[host].append((namespace, item))
            if host.startswith("*"):
                self.wildcards.append((host, namespace, item))
            reversed_names.append((host[::-1], namespace, item))
        self._reversed = sorted(reversed_names, key=lambda e: e[0])
        self._keys = [e[0] for e in self._reversed]

    def admitted(self, pattern: str) -> Iterator[tuple[str, Any]]:
        """(namespace, item) of every name ``pattern`` (not ``*``) covers: itself, or the
        names under a wildcard."""
        if not pattern.startswith("*"):
            yield from self.exact.get(pattern, ())
            return
        suffix = pattern[1:][::-1]  # "*.example.com" -> "moc.elpmaxe."
        start = bisect.bisect_left(self._keys, suffix)
        for index in range(start, len(self._reversed)):
            key, namespace, item = self._reversed[index]
            if not key.startswith(suffix):
                break
            if len(key) > len(suffix):
                yield namespace, item

    def covering(self, host: str) -> Iterator[tuple[str, Any]]:
        """(namespace, item) of every wildcard name that covers ``host`` (few: a scan)."""
        for name, namespace, item in self.wildcards:
            if name != host and covers(name, host):
                yield namespace, item


def _egress_hosts(snap: Snapshot) -> Iterator[Finding]:
    """An egress host that imports no Service, ServiceEntry host or VirtualService: a typo, a
    short name (egress hosts are never expanded) or a namespace that has none of them; the
    proxies then get no route to what the author meant. ``ns/*`` is reported only for a
    namespace the files do not know at all."""
    every_backend = [b for found in snap.backends.values() for b in found]
    backends = _Names((b.host, b.namespace, b) for b in [*every_backend, *snap.wildcard_backends])
    routes = _Names(
        (fqdn(host, vs.namespace), vs.namespace, vs)
        for vs in snap.virtual_services
        if not vs.spec.gateways or "mesh" in vs.spec.gateways
        for host in vs.spec.hosts or ()
    )
    root = snap.mesh.root_namespace
    for sidecar in snap.sidecars:
        mesh_default = sidecar.namespace == root and not sidecar.spec.selector()
        client = None if mesh_default else sidecar.namespace
        for l_index, listener in enumerate(sidecar.spec.egress or ()):
            for h_index, text in enumerate(listener.hosts):
                wanted = egress_import(text, sidecar.namespace)
                if wanted.excluded:
                    continue
                # the mesh default's "." is each proxy's own namespace: any of them
                scope = ANY_NAMESPACE if mesh_default and text.startswith(".") else wanted.namespace
                if wanted.host == "*":
                    # a whole namespace is a policy, not a reference: only a namespace with
                    # nothing at all in the files (a typo) is reported
                    found = scope in (ANY_NAMESPACE, sidecar.namespace) or scope in snap.namespaces
                    message = f"egress host {text}: namespace {scope} has no object in the files"
                else:
                    found = _imports_something(snap, backends, routes, wanted, scope, client)
                    message = _not_found_message(text, wanted.host, sidecar.namespace)
                if not found:
                    yield Finding.of(
                        "sidecar-egress-host-not-found",
                        message,
                        **sidecar.where(f"spec.egress[{l_index}].hosts[{h_index}]"),
                    )


def _imports_something(
    snap: Snapshot,
    backends: _Names,
    routes: _Names,
    wanted: EgressImport,
    scope: str,
    client: str | None,
) -> bool:
    """Whether ``wanted``, read in namespace ``scope`` (``*``: any), admits a backend visible
    from ``client`` (None: from any namespace) or meets a mesh VirtualService host."""
    host = wanted.host
    if not host.startswith("*") and snap.broken_backend(host):
        return True
    for namespace, backend in backends.admitted(host):
        if scope in (ANY_NAMESPACE, namespace) and (
            client is None or visible(backend.export_to, backend.namespace, client)
        ):
            return True
    meeting = [*routes.admitted(host), *routes.covering(host)]
    return any(scope in (ANY_NAMESPACE, namespace) for namespace, _ in meeting)


def _not_found_message(text: str, host: str, namespace: str) -> str:
    message = (
        f"egress host {text} imports no Service, ServiceEntry host or VirtualService visible "
        f"from namespace {namespace}: the proxies get no route to it"
    )
    if "." not in host and host != "*":
        message += f" (egress hosts are not expanded: write {host}.<namespace>.svc.cluster.local)"
    return message
