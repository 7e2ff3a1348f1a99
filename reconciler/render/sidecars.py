"""A sidecar's outbound listeners, kept piece by piece so that a change re-renders only
what it touches.

The pieces are the virtual hosts: one per service host and HTTP port, routed by the
VirtualService that claims the host (the first in istiod's order that names it) or by the
default route. When VirtualServices change, only the hosts they claimed or now name are
routed again; the listeners are then reassembled from the pieces, which costs a list of
references, not a render.

Only what the namespace's Sidecar imports is here (:mod:`reconciler.render.scopes`): the
services it was given, and the VirtualServices its egress admits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.model.hosts import covers, fqdn, visible
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import VirtualServiceSpec
from reconciler.render.listeners import http_listener, route_configuration
from reconciler.render.options import MESH, RenderOptions
from reconciler.render.registry import MeshService, Resolver, cluster_name
from reconciler.render.routes import Proxy, RouteContext, retry_policy, virtual_service_routes
from reconciler.render.scopes import SidecarScope

VirtualService = Resource[VirtualServiceSpec]
Key = tuple[str, str]
"""A VirtualService's (namespace, name)."""

BLOCK_ALL = {
    "name": "block_all",
    "domains": ["*"],
    "routes": [{"name": "block_all", "match": {"prefix": "/"}, "direct_response": {"status": 502}}],
}


class SidecarRender:
    """The listeners of a sidecar in ``options.namespace``, and how to change them."""

    def __init__(
        self,
        snapshot: Snapshot,
        services: list[MeshService],
        resolve: Resolver,
        options: RenderOptions,
        scope: SidecarScope,
    ) -> None:
        self._proxy = Proxy(options.namespace)
        self._scope = scope
        self._default_export_to = snapshot.mesh.default_virtual_service_export_to
        self._options = options
        self._resolve = resolve
        self._static_notes: list[str] = []
        self._ports: dict[int, list[MeshService]] = {}
        for service in services:
            for port in service.ports:
                if port.is_http:
                    self._ports.setdefault(port.number, []).append(service)
                else:
                    self._static_notes.append(
                        f"{service.host}:{port.number} is {port.protocol}: "
                        "no listener rendered (HTTP only)"
                    )
        self._domains = {
            (number, service.host): domains
            for number, serving in self._ports.items()
            for service, domains in zip(
                serving, _unique_domains(serving, options.namespace), strict=True
            )
        }
        self._services = {s.host: s for s in services}
        self._virtual_services: dict[Key, VirtualService] = {}
        self._naming: dict[str, set[Key]] = {}
        """Service host -> the VirtualServices that name it (an index, so that finding a
        host's claim does not scan every VirtualService)."""
        self._claims: dict[str, VirtualService] = {}
        self._hosts: dict[tuple[int, str], dict[str, Any]] = {}
        self._route_notes: dict[tuple[int, str], list[str]] = {}
        self.replace((), snapshot.virtual_services)

    def replace(self, removed: Iterable[Key], added: Iterable[VirtualService]) -> set[str]:
        """Take out the VirtualServices ``removed`` names, put in ``added`` (new or changed
        ones replace those of the same name); route again every host whose claim may have
        changed. The hosts routed again are returned."""
        added = list(added)
        first = not self._hosts
        affected: set[str] = set()
        for key in [*removed, *((vs.namespace, vs.name) for vs in added)]:
            old = self._virtual_services.pop(key, None)
            if old is not None:
                for host in self._named_by(old):
                    self._naming[host].discard(key)
                    affected.add(host)
        for vs in added:
            if self._applies(vs):
                key = (vs.namespace, vs.name)
                self._virtual_services[key] = vs
                for host in self._named_by(vs):
                    self._naming.setdefault(host, set()).add(key)
                    affected.add(host)
        if first:
            affected = set(self._services)
        for host in affected:
            candidates = [self._virtual_services[k] for k in self._naming.get(host, ())]
            if candidates:
                self._claims[host] = min(candidates, key=self._rank)
            else:
                self._claims.pop(host, None)
            for number in (p.number for p in self._services[host].ports if p.is_http):
                self._route(number, host)
        return affected

    def listeners(self) -> list[dict[str, Any]]:
        listeners = []
        for number in sorted(self._ports):
            hosts = [self._hosts[(number, s.host)] for s in self._ports[number]] + [BLOCK_ALL]
            listeners.append(
                http_listener(
                    f"0.0.0.0_{number}",
                    self._options.mesh_address,
                    self._options.listen_port(number),
                    route_configuration(str(number), hosts),
                    f"outbound_0.0.0.0_{number}",
                    gateway=False,
                )
            )
        return listeners

    def notes(self) -> list[str]:
        return [*self._static_notes, *(n for notes in self._route_notes.values() for n in notes)]

    def virtual_services(self) -> list[VirtualService]:
        """The VirtualServices that apply to this sidecar, by (namespace, name)."""
        return [self._virtual_services[key] for key in sorted(self._virtual_services)]

    def _applies(self, vs: VirtualService) -> bool:
        """Bound to the mesh (no gateways, or ``mesh``), exported to this namespace and
        imported by the namespace's Sidecar."""
        gateways = vs.spec.gateways
        return (
            (not gateways or MESH in gateways)
            and visible(
                vs.spec.export_to or self._default_export_to, vs.namespace, self._proxy.namespace
            )
            and self._scope.admits(vs)
        )

    def _rank(self, vs: VirtualService) -> tuple[bool, str, str]:
        """istiod's order: the sidecar's own namespace first, then by namespace and name."""
        return (vs.namespace != self._proxy.namespace, vs.namespace, vs.name)

    def _named_by(self, vs: VirtualService) -> set[str]:
        """The service hosts ``vs`` names, exactly or by a wildcard."""
        named: set[str] = set()
        for host in vs.spec.hosts or ():
            expanded = fqdn(host, vs.namespace)
            if expanded.startswith("*"):
                named.update(h for h in self._services if covers(expanded, h))
            elif expanded in self._services:
                named.add(expanded)
        return named

    def _route(self, number: int, host: str) -> None:
        notes: list[str] = []
        claim = self._claims.get(host)
        if claim is None:
            routes = [default_route(cluster_name(number, None, host))]
        else:
            routes = virtual_service_routes(
                claim,
                RouteContext(
                    self._proxy, number, self._resolve, notes, self._resolve.hash_policies
                ),
            )
        self._hosts[(number, host)] = {
            "name": f"{host}:{number}",
            "domains": self._domains[(number, host)],
            "routes": routes,
        }
        self._route_notes[(number, host)] = notes


def _unique_domains(services: list[MeshService], namespace: str) -> list[list[str]]:
    """Each service's domains on one port; a name two services could claim goes to the first
    (Envoy refuses a domain in two virtual hosts of one route configuration)."""
    used: set[str] = set()
    found = []
    for service in services:
        domains = [d for d in domains_of(service, namespace) if d not in used]
        used.update(domains)
        found.append(domains)
    return found


def domains_of(service: MeshService, namespace: str) -> list[str]:
    """How a client in ``namespace`` may name the service: istiod's sidecar domains."""
    host = service.host
    if service.resource.kind != "Service":
        return [host]
    name, service_namespace = host.split(".")[:2]
    domains = [host, f"{name}.{service_namespace}.svc", f"{name}.{service_namespace}"]
    if service_namespace == namespace:
        domains.append(name)
    return domains


def default_route(cluster: str) -> dict[str, Any]:
    """A service without a VirtualService: everything to its default cluster."""
    return {
        "name": "default",
        "match": {"prefix": "/"},
        "route": {"cluster": cluster, "timeout": "0s", "retry_policy": retry_policy(None)},
    }
