"""One proxy's whole configuration: the mesh's sidecar view, or one Gateway's.

``render_proxy`` is pure: the snapshot, the endpoints and the options in, listeners and
clusters out, in a deterministic order. What a standalone Envoy cannot run (ISTIO_MUTUAL,
Secrets, delegates, non-HTTP listeners) is left out and said in ``notes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.errors import RenderError
from reconciler.memory import gc_paused
from reconciler.model.snapshot import Snapshot
from reconciler.render.clusters import build_cluster, hash_policy, policy_for, subsets_of
from reconciler.render.endpoints import EndpointTable
from reconciler.render.gateways import gateway_listeners
from reconciler.render.options import MESH, RenderOptions
from reconciler.render.registry import (
    MeshService,
    Resolver,
    cluster_name,
    mesh_services,
    unique_hosts,
)
from reconciler.render.routes import (
    Proxy,
)
from reconciler.render.scopes import SidecarScope, with_destinations
from reconciler.render.sidecars import Key, SidecarRender, VirtualService


@dataclass(frozen=True)
class RenderedProxy:
    proxy: str
    listeners: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    notes: list[str]


@gc_paused()
def render_proxy(
    snapshot: Snapshot,
    proxy: str,
    endpoints: EndpointTable,
    options: RenderOptions | None = None,
) -> RenderedProxy:
    """The configuration of ``proxy``: ``mesh`` (a sidecar) or ``<namespace>/<gateway>``."""
    options = options or RenderOptions()
    if proxy == MESH:
        return Sidecar(snapshot, endpoints, options).rendered()
    namespace, _, name = proxy.partition("/")
    if not name or (namespace, name) not in snapshot.gateways:
        known = ", ".join(f"{ns}/{n}" for ns, n in sorted(snapshot.gateways)) or "none"
        raise RenderError(f"no Gateway {proxy} in the snapshot (Gateways: {known})")
    notes: list[str] = []
    services = unique_hosts(mesh_services(snapshot, namespace))
    clusters, hashing = _clusters(snapshot, services, endpoints, namespace, notes)
    identity = Proxy(namespace, gateway=proxy)
    listeners = gateway_listeners(snapshot, Resolver(services, hashing), identity, options, notes)
    return RenderedProxy(proxy, listeners, clusters, sorted(set(notes)))


class Sidecar:
    """The mesh's sidecar render, kept so that VirtualService changes re-render only the
    hosts they touch.

    Without a Sidecar narrowing egress, clusters do not depend on VirtualServices. With one,
    the clusters are the imported services' and those the admitted VirtualServices route to,
    so a change re-selects them; hash policies are worked out over every visible service, so
    that routes never need routing again for it."""

    @gc_paused()
    def __init__(
        self, snapshot: Snapshot, endpoints: EndpointTable, options: RenderOptions
    ) -> None:
        self._snapshot, self._endpoints, self._namespace = snapshot, endpoints, options.namespace
        self._scope = SidecarScope(snapshot, options.namespace)
        visible = unique_hosts(mesh_services(snapshot, options.namespace))
        self._notes: list[str] = []
        self._clusters, hashing = _clusters(
            snapshot, visible, endpoints, options.namespace, self._notes
        )
        self._resolver = Resolver(visible, hashing)
        imported = self._scope.imported(visible)
        self._imported = imported
        self._listeners = SidecarRender(snapshot, imported, self._resolver, options, self._scope)
        self._reachable: list[MeshService] = visible
        if self._scope.narrows:
            self._select_clusters()
        self.last_affected: set[str] = set()
        """The hosts the last :meth:`replace` routed again."""

    def rendered(self) -> RenderedProxy:
        notes = sorted({*self._notes, *self._scope.notes, *self._listeners.notes()})
        return RenderedProxy(MESH, self._listeners.listeners(), self._clusters, notes)

    def replace(self, removed: Iterable[Key], added: Iterable[VirtualService]) -> RenderedProxy:
        """The render after VirtualServices ``removed`` (namespace, name) are gone and
        ``added`` are in (replacing those of the same name)."""
        self.last_affected = self._listeners.replace(removed, added)
        if self._scope.narrows:
            self._select_clusters()
        return self.rendered()

    def _select_clusters(self) -> None:
        """Clusters of the imported services and of the admitted VirtualServices' destinations
        (built again only when that set changes)."""
        reachable = with_destinations(
            self._imported, self._listeners.virtual_services(), self._resolver
        )
        if reachable == self._reachable:
            return
        self._reachable = reachable
        self._notes = []
        self._clusters = _clusters(
            self._snapshot, reachable, self._endpoints, self._namespace, self._notes
        )[0]


def _clusters(
    snapshot: Snapshot,
    services: list[MeshService],
    endpoints: EndpointTable,
    namespace: str,
    notes: list[str],
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Every cluster, sorted by name, and the hash policies of those that hash requests."""
    clusters = []
    hashing: dict[str, list[dict[str, Any]]] = {}
    for service in services:
        rules = snapshot.rules_for(service.host, namespace)
        for port in service.ports:
            found = endpoints.of(service.host, port.number)
            for subset in [None, *subsets_of(rules)]:
                selected = [e for e in found if subset is None or e.has_labels(subset.labels or {})]
                name = cluster_name(port.number, subset.name if subset else None, service.host)
                policy = policy_for(rules, port.number, subset)
                clusters.append(build_cluster(name, service, port, selected, policy, notes))
                hashed = hash_policy(policy)
                if hashed:
                    hashing[name] = hashed
    return sorted(clusters, key=lambda c: str(c["name"])), hashing
