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
from reconciler.model.hosts import covers, fqdn, gateway_reference, split_gateway_host
from reconciler.model.snapshot import Snapshot
from reconciler.render.clusters import build_cluster, policy_for, subsets_of
from reconciler.render.endpoints import EndpointTable
from reconciler.render.listeners import http_listener, route_configuration
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
    RouteContext,
    is_catch_all,
    virtual_service_routes,
)
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
    clusters = _clusters(snapshot, services, endpoints, namespace, notes)
    identity = Proxy(namespace, gateway=proxy)
    listeners = _gateway_listeners(snapshot, Resolver(services), identity, options, notes)
    return RenderedProxy(proxy, listeners, clusters, sorted(set(notes)))


class Sidecar:
    """The mesh's sidecar render, kept so that VirtualService changes re-render only the
    hosts they touch (clusters do not depend on VirtualServices)."""

    @gc_paused()
    def __init__(
        self, snapshot: Snapshot, endpoints: EndpointTable, options: RenderOptions
    ) -> None:
        self._notes: list[str] = []
        services = unique_hosts(mesh_services(snapshot, options.namespace))
        self._clusters = _clusters(snapshot, services, endpoints, options.namespace, self._notes)
        self._listeners = SidecarRender(snapshot, services, Resolver(services), options)
        self.last_affected: set[str] = set()
        """The hosts the last :meth:`replace` routed again."""

    def rendered(self) -> RenderedProxy:
        notes = sorted({*self._notes, *self._listeners.notes()})
        return RenderedProxy(MESH, self._listeners.listeners(), self._clusters, notes)

    def replace(self, removed: Iterable[Key], added: Iterable[VirtualService]) -> RenderedProxy:
        """The render after VirtualServices ``removed`` (namespace, name) are gone and
        ``added`` are in (replacing those of the same name)."""
        self.last_affected = self._listeners.replace(removed, added)
        return self.rendered()


def _clusters(
    snapshot: Snapshot,
    services: list[MeshService],
    endpoints: EndpointTable,
    namespace: str,
    notes: list[str],
) -> list[dict[str, Any]]:
    clusters = []
    for service in services:
        rules = snapshot.rules_for(service.host, namespace)
        for port in service.ports:
            found = endpoints.of(service.host, port.number)
            name = cluster_name(port.number, None, service.host)
            clusters.append(
                build_cluster(
                    name, service, port, found, policy_for(rules, port.number, None), notes
                )
            )
            for subset in subsets_of(rules):
                selected = [e for e in found if e.has_labels(subset.labels or {})]
                name = cluster_name(port.number, subset.name, service.host)
                policy = policy_for(rules, port.number, subset)
                clusters.append(build_cluster(name, service, port, selected, policy, notes))
    return sorted(clusters, key=lambda c: str(c["name"]))


def _gateway_listeners(
    snapshot: Snapshot,
    resolve: Resolver,
    proxy: Proxy,
    options: RenderOptions,
    notes: list[str],
) -> list[dict[str, Any]]:
    assert proxy.gateway is not None
    namespace, name = proxy.gateway.split("/", 1)
    gateway = snapshot.gateways[(namespace, name)]
    bound = sorted(
        (
            vs
            for vs in snapshot.virtual_services
            if any(
                gateway_reference(g, vs.namespace)[:2] == (namespace, name)
                for g in vs.spec.gateways or ()
            )
        ),
        key=lambda vs: (vs.namespace, vs.name),
    )
    servers_by_port: dict[int, list[Any]] = {}
    for server in gateway.spec.servers or ():
        protocol = server.port.protocol.upper()
        if protocol in ("HTTP", "HTTP2", "GRPC") or (
            protocol == "HTTPS" and server.tls and server.tls.https_redirect
        ):
            servers_by_port.setdefault(server.port.number, []).append(server)
        else:
            notes.append(
                f"Gateway {proxy.gateway} port {server.port.number} ({protocol}): "
                "only plain HTTP servers are rendered"
            )
    listeners = []
    for number in sorted(servers_by_port):
        context = RouteContext(proxy, number, resolve, notes)
        hosts: dict[str, dict[str, Any]] = {}
        added: set[tuple[str, str, str]] = set()  # (domain, VS namespace, VS name)
        for server in servers_by_port[number]:
            redirect = bool(server.tls and server.tls.https_redirect)
            for server_host in server.hosts:
                allowed_namespace, pattern = split_gateway_host(server_host, namespace)
                for vs in bound:
                    if allowed_namespace not in ("*", vs.namespace):
                        continue
                    for vs_host in vs.spec.hosts or ():
                        host = fqdn(vs_host, vs.namespace)
                        if not (covers(pattern, host) or covers(host, pattern)):
                            continue
                        domain = host if covers(pattern, host) else pattern
                        entry = hosts.setdefault(
                            domain,
                            {"name": f"{domain}:{number}", "domains": [domain], "routes": []},
                        )
                        if redirect:
                            entry["require_tls"] = "ALL"
                        if (domain, vs.namespace, vs.name) not in added:
                            added.add((domain, vs.namespace, vs.name))
                            entry["routes"].extend(virtual_service_routes(vs, context))
        virtual_hosts = []
        for domain in sorted(hosts):
            entry = hosts[domain]
            entry["routes"] = sorted(entry["routes"], key=lambda r: is_catch_all(r["match"]))
            virtual_hosts.append(entry)
        if not virtual_hosts:
            virtual_hosts = [{"name": f"blackhole:{number}", "domains": ["*"], "routes": []}]
        port = options.listen_port(number)
        listeners.append(
            http_listener(
                f"0.0.0.0_{number}",
                options.gateway_address,
                port,
                route_configuration(f"http.{number}", virtual_hosts),
                f"outbound_0.0.0.0_{number}",
                gateway=True,
            )
        )
    return listeners
