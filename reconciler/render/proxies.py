"""One proxy's whole configuration: the mesh's sidecar view, or one Gateway's.

``render_proxy`` is pure: the snapshot, the endpoints and the options in, listeners and
clusters out, in a deterministic order. What a standalone Envoy cannot run (ISTIO_MUTUAL,
Secrets, delegates, non-HTTP listeners) is left out and said in ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.errors import RenderError
from reconciler.model.hosts import covers, fqdn, gateway_reference, split_gateway_host, visible
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import Destination, VirtualServiceSpec
from reconciler.render.clusters import build_cluster, cluster_name, policy_for, subsets_of
from reconciler.render.endpoints import EndpointTable
from reconciler.render.listeners import http_listener, route_configuration
from reconciler.render.registry import MeshService, mesh_services
from reconciler.render.routes import (
    Proxy,
    RouteContext,
    is_catch_all,
    retry_policy,
    virtual_service_routes,
)

MESH = "mesh"


@dataclass(frozen=True)
class RenderOptions:
    """Where the listeners bind: a sidecar's on 127.0.0.1 (as istiod binds them without
    iptables), a Gateway's on 0.0.0.0; ``ephemeral_ports`` lets Envoy pick free ports (``meshrc
    verify`` asks it which). ``namespace`` is the sidecar's: it decides short names and
    ``exportTo``."""

    namespace: str = "default"
    mesh_address: str = "127.0.0.1"
    gateway_address: str = "0.0.0.0"
    ephemeral_ports: bool = False

    def listen_port(self, port: int) -> int:
        return 0 if self.ephemeral_ports else port


@dataclass(frozen=True)
class RenderedProxy:
    proxy: str
    listeners: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    notes: list[str]


def render_proxy(
    snapshot: Snapshot,
    proxy: str,
    endpoints: EndpointTable,
    options: RenderOptions | None = None,
) -> RenderedProxy:
    """The configuration of ``proxy``: ``mesh`` (a sidecar) or ``<namespace>/<gateway>``."""
    options = options or RenderOptions()
    notes: list[str] = []
    if proxy == MESH:
        namespace = options.namespace
        identity = Proxy(namespace)
    else:
        namespace, _, name = proxy.partition("/")
        if not name or (namespace, name) not in snapshot.gateways:
            known = ", ".join(f"{ns}/{n}" for ns, n in sorted(snapshot.gateways)) or "none"
            raise RenderError(f"no Gateway {proxy} in the snapshot (Gateways: {known})")
        identity = Proxy(namespace, gateway=proxy)
    services = _unique_hosts(mesh_services(snapshot, namespace))
    clusters = _clusters(snapshot, services, endpoints, namespace, notes)
    resolve = _Resolver(services)
    if identity.gateway is None:
        listeners = _mesh_listeners(snapshot, services, resolve, identity, options, notes)
    else:
        listeners = _gateway_listeners(snapshot, resolve, identity, options, notes)
    return RenderedProxy(proxy, listeners, clusters, sorted(set(notes)))


def _unique_hosts(services: list[MeshService]) -> list[MeshService]:
    """One service per host, the first in registry order (as istiod picks one)."""
    seen: dict[str, MeshService] = {}
    for service in services:
        seen.setdefault(service.host, service)
    return list(seen.values())


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


class _Resolver:
    """Destination hosts to cluster names, as istiod resolves them."""

    def __init__(self, services: list[MeshService]) -> None:
        self.by_host = {s.host: s for s in services}
        self.wildcards = [s for s in services if s.host.startswith("*")]
        self.port = 0

    def service(self, host: str) -> MeshService | None:
        found = self.by_host.get(host)
        if found is None:
            matching = [s for s in self.wildcards if covers(s.host, host)]
            found = max(matching, key=lambda s: len(s.host), default=None)
        return found

    def __call__(self, destination: Destination, vs_namespace: str) -> str | None:
        service = self.service(fqdn(destination.host, vs_namespace))
        if service is None:
            return None
        if destination.port is not None and destination.port.number is not None:
            port = destination.port.number
        elif len(service.ports) == 1:
            port = service.ports[0].number
        else:
            port = self.port
        return cluster_name(port, destination.subset, service.host)


def _mesh_virtual_services(
    snapshot: Snapshot, namespace: str
) -> list[Resource[VirtualServiceSpec]]:
    """The VirtualServices a sidecar in ``namespace`` applies, its own namespace's first."""
    bound = [
        vs
        for vs in snapshot.virtual_services
        if (not vs.spec.gateways or MESH in vs.spec.gateways)
        and visible(vs.spec.export_to, vs.namespace, namespace)
    ]
    return sorted(bound, key=lambda vs: (vs.namespace != namespace, vs.namespace, vs.name))


def _mesh_listeners(
    snapshot: Snapshot,
    services: list[MeshService],
    resolve: _Resolver,
    proxy: Proxy,
    options: RenderOptions,
    notes: list[str],
) -> list[dict[str, Any]]:
    claims: dict[str, Resource[VirtualServiceSpec]] = {}
    for vs in _mesh_virtual_services(snapshot, proxy.namespace):
        for host in vs.spec.hosts or ():
            expanded = fqdn(host, vs.namespace)
            for service in services:
                if covers(expanded, service.host):
                    claims.setdefault(service.host, vs)
    by_port: dict[int, list[MeshService]] = {}
    for service in services:
        for port in service.ports:
            if port.is_http:
                by_port.setdefault(port.number, []).append(service)
            else:
                notes.append(
                    f"{service.host}:{port.number} is {port.protocol}: "
                    "no listener rendered (HTTP only)"
                )
    listeners = []
    for number in sorted(by_port):
        resolve.port = number
        used: set[str] = set()
        hosts = []
        for service in by_port[number]:
            domains = [d for d in _domains(service, proxy.namespace) if d not in used]
            used.update(domains)
            claim = claims.get(service.host)
            context = RouteContext(proxy, number, resolve, notes)
            routes = (
                virtual_service_routes(claim, context)
                if claim is not None
                else [_default_route(cluster_name(number, None, service.host))]
            )
            hosts.append({"name": f"{service.host}:{number}", "domains": domains, "routes": routes})
        hosts.append(
            {
                "name": "block_all",
                "domains": ["*"],
                "routes": [
                    {
                        "name": "block_all",
                        "match": {"prefix": "/"},
                        "direct_response": {"status": 502},
                    }
                ],
            }
        )
        listeners.append(
            http_listener(
                f"0.0.0.0_{number}",
                options.mesh_address,
                options.listen_port(number),
                route_configuration(str(number), hosts),
                f"outbound_0.0.0.0_{number}",
                gateway=False,
            )
        )
    return listeners


def _domains(service: MeshService, namespace: str) -> list[str]:
    """How a client in ``namespace`` may name the service: istiod's sidecar domains."""
    host = service.host
    if service.resource.kind != "Service":
        return [host]
    name, service_namespace = host.split(".")[:2]
    domains = [host, f"{name}.{service_namespace}.svc", f"{name}.{service_namespace}"]
    if service_namespace == namespace:
        domains.append(name)
    return domains


def _default_route(cluster: str) -> dict[str, Any]:
    """A service without a VirtualService: everything to its default cluster."""
    return {
        "name": "default",
        "match": {"prefix": "/"},
        "route": {"cluster": cluster, "timeout": "0s", "retry_policy": retry_policy(None)},
    }


def _gateway_listeners(
    snapshot: Snapshot,
    resolve: _Resolver,
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
        resolve.port = number
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
