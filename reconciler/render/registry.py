"""The services a proxy can send traffic to, with their ports and protocols, as istiod's
service registry sees them: Kubernetes Services and the hosts of ServiceEntries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.model.hosts import covers, fqdn, service_fqdn, visible
from reconciler.model.resources import Resource
from reconciler.model.snapshot import EXPORT_TO_ANNOTATION, Snapshot
from reconciler.model.virtualservice import Destination

HTTP_PROTOCOLS = frozenset({"http", "http2", "grpc", "grpc-web"})
HTTP2_PROTOCOLS = frozenset({"http2", "grpc", "grpc-web"})
KNOWN_PROTOCOLS = HTTP_PROTOCOLS | {"https", "tcp", "tls", "mongo", "mysql", "redis", "udp"}


@dataclass(frozen=True)
class ServicePort:
    number: int
    name: str
    protocol: str
    """Lower case: http, http2, grpc, tcp, tls, https, ... ("http" when it cannot be told:
    istiod would sniff the protocol, and most meshes are HTTP)."""
    target_port: int | None = None

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS


@dataclass(frozen=True)
class MeshService:
    """One host on its ports: a Kubernetes Service, or one host of a ServiceEntry."""

    host: str
    namespace: str
    ports: tuple[ServicePort, ...]
    export_to: tuple[str, ...]
    resource: Resource[Any]
    resolution: str
    """STATIC for Kubernetes Services and STATIC ServiceEntries; else the entry's resolution."""
    external: bool = False

    def port(self, number: int) -> ServicePort | None:
        return next((p for p in self.ports if p.number == number), None)


def cluster_name(port: int, subset: str | None, host: str) -> str:
    """istiod's name: ``outbound|9080|v1|reviews.shop.svc.cluster.local``."""
    return f"outbound|{port}|{subset or ''}|{host}"


def protocol_of(name: str | None, declared: str | None) -> str:
    """Istio's rule: an explicit protocol (appProtocol, a ServiceEntry's protocol), else the
    port name's prefix (``http-web`` is http), else unknown, rendered as HTTP."""
    for candidate in (declared, (name or "").split("-", 1)[0]):
        value = (candidate or "").lower()
        if value in KNOWN_PROTOCOLS:
            return value
    return "http"


def mesh_services(snapshot: Snapshot, client_namespace: str) -> list[MeshService]:
    """Every service visible from ``client_namespace``, sorted by host then namespace."""
    found: list[MeshService] = []
    for service in snapshot.services:
        spec = service.spec
        ports = tuple(
            ServicePort(
                p.port,
                p.name or "",
                protocol_of(p.name, p.app_protocol),
                p.target_port if isinstance(p.target_port, int) else None,
            )
            for p in spec.ports or ()
        )
        export = service.metadata.annotations.get(EXPORT_TO_ANNOTATION, "")
        found.append(
            MeshService(
                service_fqdn(service.name, service.namespace),
                service.namespace,
                ports,
                tuple(x.strip() for x in export.split(",") if x.strip())
                or snapshot.mesh.default_service_export_to,
                service,
                "STATIC",
            )
        )
    for entry in snapshot.service_entries:
        entry_spec = entry.spec
        ports = tuple(
            ServicePort(p.number, p.name, protocol_of(p.name, p.protocol), p.target_port)
            for p in entry_spec.ports or ()
        )
        for host in entry_spec.hosts:
            found.append(
                MeshService(
                    host,
                    entry.namespace,
                    ports,
                    tuple(entry_spec.export_to or snapshot.mesh.default_service_export_to),
                    entry,
                    entry_spec.resolution or "NONE",
                    external=entry_spec.location != "MESH_INTERNAL",
                )
            )
    visible_ones = [s for s in found if visible(s.export_to, s.namespace, client_namespace)]
    return sorted(visible_ones, key=lambda s: (s.host, s.namespace, s.resource.kind))


def unique_hosts(services: list[MeshService]) -> list[MeshService]:
    """One service per host, the first in registry order (as istiod picks one)."""
    seen: dict[str, MeshService] = {}
    for service in services:
        seen.setdefault(service.host, service)
    return list(seen.values())


class Resolver:
    """Destination hosts to cluster names, as istiod resolves them."""

    def __init__(
        self,
        services: list[MeshService],
        hash_policies: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.by_host = {s.host: s for s in services}
        self.hash_policies = hash_policies or {}
        """Cluster name -> the route hash_policy its consistent-hash load balancer needs."""
        self.wildcards = [s for s in services if s.host.startswith("*")]

    def service(self, host: str) -> MeshService | None:
        found = self.by_host.get(host)
        if found is None:
            matching = [s for s in self.wildcards if covers(s.host, host)]
            found = max(matching, key=lambda s: len(s.host), default=None)
        return found

    def __call__(
        self, destination: Destination, vs_namespace: str, listener_port: int
    ) -> str | None:
        service = self.service(fqdn(destination.host, vs_namespace))
        if service is None:
            return None
        if destination.port is not None and destination.port.number is not None:
            port = destination.port.number
        elif len(service.ports) == 1:
            port = service.ports[0].number
        else:
            port = listener_port
        return cluster_name(port, destination.subset, service.host)
