"""Sidecar spec (networking.istio.io v1/v1beta1/v1alpha3 share one schema).

Class names follow istio/api ``networking/v1alpha3/sidecar.proto``. The TLS and connection-pool
messages are the Gateway's and the DestinationRule's, as in the proto. Of the validating
webhook's rules only the form of an egress host (``namespace/dnsName``) is enforced here: istiod
ignores any other host, so a wrong one silently imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator

from reconciler.model.base import IstioModel
from reconciler.model.common import UInt32, WorkloadSelector
from reconciler.model.destinationrule import ConnectionPoolSettings
from reconciler.model.gateway import ServerTLSSettings
from reconciler.model.hosts import covers, intersects
from reconciler.model.virtualservice import Destination

__all__ = [
    "ANY_NAMESPACE",
    "EgressHost",
    "EgressImport",
    "EgressScope",
    "IstioEgressListener",
    "IstioIngressListener",
    "OutboundTrafficPolicy",
    "SidecarPort",
    "SidecarSpec",
    "egress_import",
]

CaptureMode = Literal["DEFAULT", "IPTABLES", "NONE"]


def _namespace_slash_host(text: str) -> str:
    namespace, slash, host = text.partition("/")
    if not slash:
        raise ValueError(f"egress host {text!r} must be of the form namespace/dnsName")
    if not namespace or not host:
        raise ValueError(f"egress host {text!r}: namespace and dnsName cannot be empty")
    return text


EgressHost = Annotated[str, AfterValidator(_namespace_slash_host)]
"""``ns/dnsName``: ``*`` any namespace, ``.`` the Sidecar's, ``~ns`` excludes; dnsName may be a
wildcard (``*``, ``*.example.com``)."""


class SidecarPort(IstioModel):
    """The port of a listener; unlike a Gateway's, every field is optional."""

    number: UInt32 | None = None
    protocol: str | None = None
    name: str | None = None
    target_port: UInt32 | None = None


class IstioIngressListener(IstioModel):
    """A port the workload receives traffic on, and how the sidecar forwards it."""

    port: SidecarPort
    bind: str | None = None
    capture_mode: CaptureMode | None = None
    default_endpoint: str | None = None
    tls: ServerTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None


class IstioEgressListener(IstioModel):
    """The hosts the workload may reach (on ``port``, or on every port when none is given)."""

    port: SidecarPort | None = None
    bind: str | None = None
    capture_mode: CaptureMode | None = None
    hosts: list[EgressHost]


class OutboundTrafficPolicy(IstioModel):
    """What happens to traffic for hosts outside the imported ones."""

    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] | None = None
    egress_proxy: Destination | None = None


class SidecarSpec(IstioModel):
    """Which workloads (``workloadSelector``, none: the whole namespace) see which hosts."""

    workload_selector: WorkloadSelector | None = None
    ingress: list[IstioIngressListener] | None = None
    egress: list[IstioEgressListener] | None = None
    outbound_traffic_policy: OutboundTrafficPolicy | None = None
    inbound_connection_pool: ConnectionPoolSettings | None = None

    def selector(self) -> dict[str, str]:
        """The workload labels; empty when the Sidecar is the namespace's default (istiod and
        istioctl treat an empty ``labels`` like no selector)."""
        selector = self.workload_selector
        return dict(selector.labels or {}) if selector is not None else {}


ANY_NAMESPACE = "*"


@dataclass(frozen=True, slots=True)
class EgressImport:
    """One egress host, resolved: the namespace it reads (``*``: any) and the dnsName it admits
    (maybe a wildcard), or excludes when ``excluded`` (istiod's ``~ns/host``; ``~/*``: all)."""

    namespace: str
    host: str
    excluded: bool = False


def egress_import(text: str, config_namespace: str) -> EgressImport:
    """``ns/dnsName`` as istiod reads it for a proxy whose config namespace is
    ``config_namespace`` (for the mesh-wide default Sidecar: each proxy's own namespace)."""
    namespace, _, host = text.partition("/")
    excluded = namespace.startswith("~")
    if excluded:
        namespace = namespace[1:] or ANY_NAMESPACE
    if namespace == ".":
        namespace = config_namespace
    return EgressImport(namespace, host, excluded)


class EgressScope:
    """What one egress listener imports for one config namespace (pilot's hostClassification
    per namespace): services whose host its dnsNames cover, VirtualServices whose hosts meet
    one, neither when an exclusion covers the host."""

    def __init__(self, listener: IstioEgressListener, config_namespace: str) -> None:
        self.port = listener.port.number if listener.port is not None else None
        protocol = (listener.port.protocol or "") if listener.port is not None else ""
        self.match_port = bool(self.port) and protocol.upper() != "HTTP_PROXY"
        """A listener with a port imports only that port of each service (not an HTTP proxy)."""
        self._hosts: dict[str, list[str]] = {}
        self._excluded: dict[str, list[str]] = {}
        for text in listener.hosts:
            found = egress_import(text, config_namespace)
            into = self._excluded if found.excluded else self._hosts
            into.setdefault(found.namespace, []).append(found.host)

    def admits_service(self, host: str, namespace: str) -> bool:
        """Whether a service ``host`` of ``namespace`` is imported."""
        if self._is_excluded(host, namespace):
            return False
        return any(
            covers(pattern, host)
            for ns in (namespace, ANY_NAMESPACE)
            for pattern in self._hosts.get(ns, ())
        )

    def admits_virtual_service(self, hosts: list[str], namespace: str) -> bool:
        """Whether a VirtualService of ``namespace`` with these (fully qualified) hosts is
        imported: a host and a dnsName meet when either covers the other (istiod's
        bidirectional match for VirtualServices)."""
        return any(
            intersects(pattern, host) and not self._is_excluded(host, namespace)
            for host in hosts
            for ns in (namespace, ANY_NAMESPACE)
            for pattern in self._hosts.get(ns, ())
        )

    def _is_excluded(self, host: str, namespace: str) -> bool:
        return any(
            covers(pattern, host)
            for ns in (namespace, ANY_NAMESPACE)
            for pattern in self._excluded.get(ns, ())
        )
