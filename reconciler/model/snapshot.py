"""The desired state at one commit: typed resources plus the indexes cross-resource checks use.

Every lookup a check makes (a host, a gateway, the workloads of a namespace) goes through an
index built once here, so checks stay linear in the size of the mesh.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from reconciler.findings import Finding
from reconciler.model.destinationrule import DestinationRuleSpec
from reconciler.model.gateway import GatewaySpec
from reconciler.model.hosts import covers, fqdn, labels_match, service_fqdn, visible
from reconciler.model.kinds import GATEWAY_API, split_api_version
from reconciler.model.kubernetes import SecretSpec, ServiceSpec, WorkloadSpec, secret_made_by
from reconciler.model.mesh import DEFAULT_MESH, MeshSettings
from reconciler.model.resources import (
    WORKLOAD_KINDS,
    Broken,
    Listed,
    Origin,
    Parsed,
    Resource,
    parse_resource,
)
from reconciler.model.security import (
    AuthorizationPolicySpec,
    PeerAuthenticationSpec,
    RequestAuthenticationSpec,
)
from reconciler.model.serviceentry import ServiceEntrySpec
from reconciler.model.sidecar import SidecarSpec
from reconciler.model.virtualservice import VirtualServiceSpec
from reconciler.model.workloadentry import WorkloadEntrySpec
from reconciler.source.loading import Document

EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"


@dataclass(frozen=True)
class Backend:
    """A host traffic can be sent to: a Kubernetes Service or one host of a ServiceEntry.

    ``endpoint_labels`` is None when the endpoints cannot be known from the files (a Service
    without selector, a ServiceEntry resolved by DNS without endpoints).
    """

    host: str
    namespace: str
    ports: frozenset[int]
    export_to: tuple[str, ...]
    resource: Resource[Any]
    endpoint_labels: tuple[dict[str, str], ...] | None


@dataclass(frozen=True)
class Duplicate:
    """A second declaration of one object (same group, kind, namespace and name)."""

    ref: str
    first: Origin
    again: Origin


class WorkloadIndex:
    """Pod labels per namespace, with an inverted index so a selector costs its matches only."""

    def __init__(self) -> None:
        self._by_namespace: dict[str, list[dict[str, str]]] = defaultdict(list)
        self._by_label: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)

    def add(self, namespace: str, labels: dict[str, str]) -> None:
        self._by_namespace[namespace].append(labels)
        for key, value in labels.items():
            self._by_label[(namespace, key, value)].append(labels)

    def declares(self, namespace: str) -> bool:
        """Whether the files declare any workload in ``namespace``."""
        return bool(self._by_namespace.get(namespace))

    def select(self, namespace: str | None, selector: dict[str, str]) -> list[dict[str, str]]:
        """Labels of the workloads ``selector`` matches (every namespace when None)."""
        if namespace is None:
            return [found for ns in self._by_namespace for found in self.select(ns, selector)]
        if not selector:
            return list(self._by_namespace.get(namespace, ()))
        key, value = next(iter(selector.items()))
        candidates = self._by_label.get((namespace, key, value), ())
        return [labels for labels in candidates if labels_match(selector, labels)]


@dataclass
class Snapshot:
    """Resources of one commit, by kind, with indexes; built by :func:`build_snapshot`."""

    mesh: MeshSettings = DEFAULT_MESH
    virtual_services: list[Resource[VirtualServiceSpec]] = field(default_factory=list)
    destination_rules: list[Resource[DestinationRuleSpec]] = field(default_factory=list)
    gateways: dict[tuple[str, str], Resource[GatewaySpec]] = field(default_factory=dict)
    service_entries: list[Resource[ServiceEntrySpec]] = field(default_factory=list)
    workload_entries: list[Resource[WorkloadEntrySpec]] = field(default_factory=list)
    services: list[Resource[ServiceSpec]] = field(default_factory=list)
    secrets: dict[tuple[str, str], Resource[SecretSpec]] = field(default_factory=dict)
    """Secrets by (namespace, name): gateway credentials; their values are never kept."""
    made_secrets: set[tuple[str, str]] = field(default_factory=set)
    """(namespace, name) of Secrets that objects of the files have a controller make
    (cert-manager Certificates, SealedSecrets, ExternalSecrets)."""
    sidecars: list[Resource[SidecarSpec]] = field(default_factory=list)
    authorization_policies: list[Resource[AuthorizationPolicySpec]] = field(default_factory=list)
    peer_authentications: list[Resource[PeerAuthenticationSpec]] = field(default_factory=list)
    request_authentications: list[Resource[RequestAuthenticationSpec]] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    """The labels of the Namespace objects in the files (e.g. ambient's dataplane mode)."""
    kubernetes_objects: list[Resource[Any]] = field(default_factory=list)
    """Namespaces, Pods and workloads as objects: their metadata and pod templates carry
    annotations the annotation checks read. Not in :meth:`resources` (nor its count)."""
    broken: list[Broken] = field(default_factory=list)
    salvaged_virtual_services: list[Resource[VirtualServiceSpec]] = field(default_factory=list)
    """The valid parts of VirtualServices that failed validation: for reference checks only,
    never rendered."""
    listed: list[Listed] = field(default_factory=list)
    """Objects of kinds meshrc knows but does not check, named as such in the report."""
    duplicates: list[Duplicate] = field(default_factory=list)
    """Objects declared more than once: only the first is in the snapshot."""
    kubernetes_gateways: dict[tuple[str, str], tuple[str, ...] | None] = field(default_factory=dict)
    """Gateway API Gateways by (namespace, name): their listeners' hostnames, None when a
    listener takes every host. A VirtualService may bind to one, as istiod allows."""
    # indexes
    backends: dict[str, list[Backend]] = field(default_factory=lambda: defaultdict(list))
    wildcard_backends: list[Backend] = field(default_factory=list)
    rules_by_host: dict[str, list[Resource[DestinationRuleSpec]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    wildcard_rules: list[Resource[DestinationRuleSpec]] = field(default_factory=list)
    workloads: WorkloadIndex = field(default_factory=WorkloadIndex)
    broken_hosts: set[str] = field(default_factory=set)
    """Hosts of Services and ServiceEntries that failed validation (maybe wildcards)."""
    broken_rule_hosts: set[str] = field(default_factory=set)
    """Hosts of DestinationRules that failed validation: their subsets are unknown."""
    broken_gateways: set[tuple[str, str]] = field(default_factory=set)

    def resources(self) -> Iterator[Resource[Any]]:
        yield from self.virtual_services
        yield from self.destination_rules
        yield from self.gateways.values()
        yield from self.service_entries
        yield from self.workload_entries
        yield from self.services
        yield from self.secrets.values()
        yield from self.sidecars
        yield from self.authorization_policies
        yield from self.peer_authentications
        yield from self.request_authentications

    def virtual_service_export_to(self, vs: Resource[VirtualServiceSpec]) -> tuple[str, ...]:
        """A VirtualService's ``exportTo``, or the mesh's default for VirtualServices."""
        return tuple(vs.spec.export_to or self.mesh.default_virtual_service_export_to)

    def virtual_services_to_check(self) -> list[Resource[VirtualServiceSpec]]:
        """The VirtualServices whose references and bindings are checked: the valid ones and
        the valid parts of invalid ones."""
        return [*self.virtual_services, *self.salvaged_virtual_services]

    def broken_backend(self, host: str) -> bool:
        """Whether an invalid Service or ServiceEntry would have provided ``host``."""
        return _named_by(self.broken_hosts, host)

    def broken_rule(self, host: str) -> bool:
        """Whether an invalid DestinationRule may have defined the subsets of ``host``."""
        return _named_by(self.broken_rule_hosts, host)

    def find_backends(self, host: str, client_namespace: str) -> list[Backend]:
        """Backends for ``host`` visible from ``client_namespace``: exact names, then wildcards."""
        found = [
            b
            for b in self.backends.get(host, ())
            if visible(b.export_to, b.namespace, client_namespace)
        ]
        if found:
            return found
        return [
            b
            for b in self.wildcard_backends
            if covers(b.host, host) and visible(b.export_to, b.namespace, client_namespace)
        ]

    def rules_for(self, host: str, client_namespace: str) -> list[Resource[DestinationRuleSpec]]:
        """DestinationRules that apply to ``host`` for a client in ``client_namespace``.

        Like istiod: the most specific host wins (an exact host over any wildcard, a longer
        wildcard over a shorter one); rules with that host are merged.
        """
        exact = [
            r
            for r in self.rules_by_host.get(host, ())
            if visible(
                r.spec.export_to or self.mesh.default_destination_rule_export_to,
                r.namespace,
                client_namespace,
            )
        ]
        if exact:
            return exact
        matching = [
            r
            for r in self.wildcard_rules
            if covers(_rule_host(r), host)
            and visible(
                r.spec.export_to or self.mesh.default_destination_rule_export_to,
                r.namespace,
                client_namespace,
            )
        ]
        if not matching:
            return []
        best = max(len(_rule_host(r)) for r in matching)
        return [r for r in matching if len(_rule_host(r)) == best]


def _named_by(names: set[str], host: str) -> bool:
    return host in names or any(n.startswith("*") and covers(n, host) for n in names)


def _rule_host(rule: Resource[DestinationRuleSpec]) -> str:
    return fqdn(rule.spec.host, rule.namespace)


def build_snapshot(
    documents: Iterable[Document],
    default_namespace: str = "default",
    mesh: MeshSettings = DEFAULT_MESH,
) -> tuple[Snapshot, list[Finding]]:
    """Validate documents into a :class:`Snapshot`; invalid ones become ``schema`` findings.

    An object declared twice is a ``duplicate-resource`` error naming both places; the first
    declaration stays in the snapshot, so that checks of the rest still run, but nothing may
    apply or render such a snapshot (:attr:`Snapshot.duplicates`).
    """
    snap = Snapshot(mesh=mesh)
    findings: list[Finding] = []
    service_entry_hosts: list[tuple[Resource[ServiceEntrySpec], str]] = []
    seen: dict[tuple[str, str, str, str], Origin] = {}
    for doc in documents:
        parsed = parse_resource(doc, default_namespace)
        findings.extend(parsed.findings)
        made = secret_made_by(doc.body, default_namespace)
        if made is not None:
            snap.made_secrets.add(made)
        declared = _declared(doc, parsed)
        if declared is not None:
            key, origin = declared
            first = seen.setdefault(key, origin)
            if first is not origin:
                findings.append(_duplicate(snap, key, first, origin))
                continue
        if parsed.broken is not None:
            _remember_broken(snap, parsed.broken)
        if parsed.listed is not None:
            snap.listed.append(parsed.listed)
            _remember_kubernetes_gateway(snap, parsed.listed, doc.body)
        resource = parsed.resource
        if resource is None:
            continue
        snap.namespaces.add(resource.namespace)
        _file(snap, resource, service_entry_hosts)
    _index_backends(snap)
    return snap, findings


def _remember_kubernetes_gateway(snap: Snapshot, listed: Listed, body: Any) -> None:
    if listed.kind != "Gateway" or split_api_version(listed.api_version)[0] != GATEWAY_API:
        return
    spec = body.get("spec") if isinstance(body, dict) else None
    listeners = spec.get("listeners") if isinstance(spec, dict) else None
    hostnames: list[str] = []
    for listener in listeners if isinstance(listeners, list) else ():
        hostname = listener.get("hostname") if isinstance(listener, dict) else None
        if not isinstance(hostname, str) or not hostname:
            snap.kubernetes_gateways[(listed.namespace, listed.name)] = None
            return
        hostnames.append(hostname)
    snap.kubernetes_gateways[(listed.namespace, listed.name)] = tuple(hostnames)


def _declared(doc: Document, parsed: Parsed) -> tuple[tuple[str, str, str, str], Origin] | None:
    """The identity (group, kind, namespace, name) of what a document declares, and where."""
    found = parsed.resource or parsed.listed
    if found is not None:
        group = split_api_version(found.api_version)[0]
        return (group, found.kind, found.namespace, found.name), found.origin
    broken = parsed.broken
    if broken is None:
        return None
    group = split_api_version(doc.body["apiVersion"])[0]  # a broken object has one
    origin = Origin(doc.file, doc.index, doc.line, doc.path)
    return (group, broken.kind, broken.namespace, broken.name), origin


def _duplicate(
    snap: Snapshot, key: tuple[str, str, str, str], first: Origin, again: Origin
) -> Finding:
    _, kind, namespace, name = key
    ref = f"{kind} {namespace}/{name}"
    snap.duplicates.append(Duplicate(ref, first, again))
    return Finding.of(
        "duplicate-resource",
        f"{ref} is declared twice: here and at {_place(first)}; a cluster keeps whichever is "
        "applied last, so meshrc checks the first and will not render or sync either",
        kind=kind,
        namespace=namespace,
        name=name,
        file=again.file,
        line=again.line,
        field=again.field("metadata.name"),
    )


def _place(origin: Origin) -> str:
    item = f" ({origin.path})" if origin.path else ""
    return f"{origin.file}:{origin.line}{item}"


def _file(snap: Snapshot, resource: Resource[Any], service_entry_hosts: list[Any]) -> None:
    kind = resource.kind
    if kind == "VirtualService":
        snap.virtual_services.append(resource)
    elif kind == "DestinationRule":
        snap.destination_rules.append(resource)
        host = _rule_host(resource)
        if host.startswith("*"):
            snap.wildcard_rules.append(resource)
        else:
            snap.rules_by_host[host].append(resource)
    elif kind == "Gateway":
        snap.gateways[(resource.namespace, resource.name)] = resource
    elif kind == "ServiceEntry":
        snap.service_entries.append(resource)
    elif kind == "WorkloadEntry":
        snap.workload_entries.append(resource)
        snap.workloads.add(resource.namespace, dict(resource.spec.labels or {}))
    elif kind == "Service":
        snap.services.append(resource)
    elif kind == "Secret":
        snap.secrets[(resource.namespace, resource.name)] = resource
    elif kind == "Sidecar":
        snap.sidecars.append(resource)
    elif kind == "AuthorizationPolicy":
        snap.authorization_policies.append(resource)
    elif kind == "PeerAuthentication":
        snap.peer_authentications.append(resource)
    elif kind == "RequestAuthentication":
        snap.request_authentications.append(resource)
    elif kind == "Namespace":
        snap.namespaces.add(resource.name)
        snap.namespace_labels[resource.name] = dict(resource.metadata.labels)
        snap.kubernetes_objects.append(resource)
    elif kind in WORKLOAD_KINDS:
        snap.workloads.add(resource.namespace, _pod_labels(resource))
        snap.kubernetes_objects.append(resource)


def _pod_labels(resource: Resource[Any]) -> dict[str, str]:
    spec = resource.spec
    if isinstance(spec, WorkloadSpec) and spec.template is not None:
        return dict(spec.template.metadata.labels) if spec.template.metadata else {}
    return dict(resource.metadata.labels)


def _remember_broken(snap: Snapshot, broken: Broken) -> None:
    """Keep the names an invalid object would have provided, so references to it still hold."""
    snap.broken.append(broken)
    if broken.salvaged is not None:
        snap.salvaged_virtual_services.append(broken.salvaged)
    raw = broken.raw_spec if isinstance(broken.raw_spec, dict) else {}
    if broken.kind == "Gateway":
        snap.broken_gateways.add((broken.namespace, broken.name))
    elif broken.kind == "Service":
        snap.broken_hosts.add(service_fqdn(broken.name, broken.namespace))
    elif broken.kind == "DestinationRule" and isinstance(raw.get("host"), str):
        snap.broken_rule_hosts.add(fqdn(raw["host"], broken.namespace))
    elif broken.kind == "ServiceEntry" and isinstance(raw.get("hosts"), list):
        snap.broken_hosts.update(h for h in raw["hosts"] if isinstance(h, str))


def _index_backends(snap: Snapshot) -> None:
    for service in snap.services:
        _add_backend(snap, _service_backend(snap, service))
    for entry in snap.service_entries:
        endpoints = _entry_endpoints(snap, entry)
        ports = frozenset(p.number for p in entry.spec.ports or ())
        for host in entry.spec.hosts:
            _add_backend(
                snap,
                Backend(
                    host,
                    entry.namespace,
                    ports,
                    tuple(entry.spec.export_to or snap.mesh.default_service_export_to),
                    entry,
                    endpoints,
                ),
            )


def _add_backend(snap: Snapshot, backend: Backend) -> None:
    if backend.host.startswith("*"):
        snap.wildcard_backends.append(backend)
    else:
        snap.backends[backend.host].append(backend)


def _service_backend(snap: Snapshot, service: Resource[ServiceSpec]) -> Backend:
    spec = service.spec
    export = service.metadata.annotations.get(EXPORT_TO_ANNOTATION, "")
    selector = spec.selector
    endpoints = None
    if selector:
        endpoints = tuple(snap.workloads.select(service.namespace, selector))
    return Backend(
        service_fqdn(service.name, service.namespace),
        service.namespace,
        frozenset(p.port for p in spec.ports or ()),
        tuple(x.strip() for x in export.split(",") if x.strip())
        or snap.mesh.default_service_export_to,
        service,
        endpoints,
    )


def _entry_endpoints(
    snap: Snapshot, entry: Resource[ServiceEntrySpec]
) -> tuple[dict[str, str], ...] | None:
    spec = entry.spec
    if spec.endpoints:
        return tuple(dict(e.labels or {}) for e in spec.endpoints)
    if spec.workload_selector is not None:
        return tuple(snap.workloads.select(entry.namespace, spec.workload_selector.labels or {}))
    return None
