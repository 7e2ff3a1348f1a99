"""Checks of Services and the workloads behind them, as istioctl analyze's
``service.PortNameAnalyzer`` (IST0118, IST0150), ``deployment.ServiceAssociationAnalyzer``
(IST0116, IST0137), ``deployment.ApplicationUIDAnalyzer`` (IST0144) and
``authn.BlockedCIDRsAnalyzer`` (IST0175).

``istioctl analyze --use-kube=false`` reads the Services and Deployments of the files too, so
these are its checks, with its exemptions: the Kubernetes system namespaces (istioctl reads
nothing there), objects of Istio's control plane (an ``istio`` label, or ``release: istio``) and
Services Istio's gateway controllers generate. Where istioctl reads Deployments only, meshrc
reads every workload with a pod template (StatefulSets, DaemonSets, ReplicaSets), as its
annotation checks do: their pods are alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from reconciler.findings import Finding
from reconciler.model.hosts import labels_match
from reconciler.model.kubernetes import (
    PodSpec,
    PodTemplate,
    ServicePortK8s,
    ServiceSpec,
    WorkloadSpec,
)
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot

IGNORED_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
)
"""Namespaces istioctl analyze drops on reading (the injector's ``IgnoredNamespaces``)."""

GATEWAY_MANAGED = "gateway.istio.io/managed"
GENERATED_BY_ISTIO = frozenset(
    {"istio.io-gateway-controller", "istio.io-mesh-controller", "istio.io-eastwest-controller"}
)
"""Values of ``gateway.istio.io/managed`` on what Istio's gateway controllers generate."""
WAYPOINT = "istio.io-mesh-controller"

PROTOCOL_PREFIXES = frozenset(
    {"tcp", "udp", "grpc", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis", "mysql"}
)
"""What a port name may start with (before its first ``-``) to name its protocol, any case."""
GRPC_WEB = "grpc-web"
KUBERNETES_APP_PROTOCOLS = frozenset({"kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss"})
WELL_KNOWN_PORTS = frozenset({25, 53, 3306, 27017})
"""SMTP, DNS, MySQL and MongoDB: TCP when the name says nothing (never sniffed)."""

PROXY_UID = 1337
PROXY_CONTAINERS = frozenset({"istio-proxy", "istio-operator"})
INJECT = "sidecar.istio.io/inject"
BLOCKED_CIDRS = "BLOCKED_CIDRS_IN_JWKS_URIS"
MAX_NAMES = 5


def _control_plane(resource: Resource[Any]) -> bool:
    labels = resource.metadata.labels
    return "istio" in labels or labels.get("release") == "istio"


def protocol_known(port: ServicePortK8s) -> bool:
    """Whether Istio reads the port's protocol from it (``appProtocol``, else the name's
    prefix, else a well-known port number) rather than sniffing it."""
    if port.protocol == "UDP":
        return True
    name = port.name or ""
    if port.app_protocol is not None:
        name = port.app_protocol
        if name in KUBERNETES_APP_PROTOCOLS:
            return True
    if name[: len(GRPC_WEB)].lower() == GRPC_WEB:
        return True
    return name.split("-", 1)[0].lower() in PROTOCOL_PREFIXES or port.port in WELL_KNOWN_PORTS


def check_service_ports(snap: Snapshot) -> Iterator[Finding]:
    """IST0118: a port whose protocol Istio must sniff; IST0150: on an ExternalName Service, a
    port of no known protocol or named ``tcp``."""
    for service in snap.services:
        if (
            service.namespace in IGNORED_NAMESPACES
            or _control_plane(service)
            or service.metadata.labels.get(GATEWAY_MANAGED) in GENERATED_BY_ISTIO
        ):
            continue
        external = service.spec.type == "ExternalName"
        for index, port in enumerate(service.spec.ports or ()):
            known = protocol_known(port)
            if external and (not known or port.name == "tcp"):
                yield Finding.of(
                    "externalname-port-name",
                    f"port {_shown(port)} of this ExternalName Service does not name an "
                    "application protocol: a sidecar may not forward traffic to a tcp port, "
                    "nor TCP traffic on this port that nothing else matches, correctly; name it "
                    "after its protocol (http-, https-, tls-...)",
                    **service.where(_port_field(port, index)),
                )
            elif not known:
                target = port.target_port if port.target_port not in (None, 0, "") else port.port
                yield Finding.of(
                    "port-name-convention",
                    f"port {_shown(port)} (port {port.port}, targetPort {target}) does not say "
                    "its protocol as Istio reads it (a name <protocol>[-<suffix>] such as "
                    "http-web, grpc, tcp-db, or appProtocol): Istio sniffs the protocol",
                    **service.where(_port_field(port, index)),
                )


def _shown(port: ServicePortK8s) -> str:
    if port.app_protocol is not None:
        return f"{port.name or port.port!s} (appProtocol {port.app_protocol!r})"
    return repr(port.name) if port.name else f"{port.port} (no name)"


def _port_field(port: ServicePortK8s, index: int) -> str:
    if port.app_protocol is not None:
        return f"spec.ports[{index}].appProtocol"
    return f"spec.ports[{index}].name" if port.name is not None else f"spec.ports[{index}]"


def _workloads(snap: Snapshot) -> Iterator[Resource[WorkloadSpec]]:
    for resource in snap.kubernetes_objects:
        if isinstance(resource.spec, WorkloadSpec) and resource.namespace not in IGNORED_NAMESPACES:
            yield resource


def _in_mesh(snap: Snapshot, namespace: str, template: PodTemplate) -> bool:
    """istioctl's test: a proxy container in the template; else the template's injection label,
    else its annotation; else the injection label of the Namespace in the files (meshrc also
    takes a revision label there, as the injector does). No Namespace object: not in the mesh."""
    if any(c.name == "istio-proxy" and c.image for c in template.spec.containers):
        return True
    for marks in (template.metadata.labels, template.metadata.annotations):
        if INJECT in marks:
            return marks[INJECT] == "true"
    labels = snap.namespace_labels.get(namespace, {})
    if "istio-injection" in labels:
        return labels["istio-injection"] == "enabled"
    return bool(labels.get("istio.io/rev"))


def check_service_associations(snap: Snapshot) -> Iterator[Finding]:
    """IST0116: Services selecting one workload's pods use one port with two protocols;
    IST0137: they send different ports to one targetPort."""
    meshed = [
        workload
        for workload in _workloads(snap)
        if workload.metadata.labels.get(GATEWAY_MANAGED) != WAYPOINT
        and _in_mesh(snap, workload.namespace, workload.spec.template)
    ]
    if not meshed:
        return
    # an inverted index of the pods' labels, so a Service costs the workloads it may select
    by_label: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for position, workload in enumerate(meshed):
        for key, value in workload.spec.template.metadata.labels.items():
            by_label[(workload.namespace, key, value)].append(position)
    selected: dict[int, list[Resource[ServiceSpec]]] = defaultdict(list)
    for service in snap.services:
        selector = service.spec.selector
        if not selector:
            continue
        key, value = next(iter(selector.items()))
        for position in by_label.get((service.namespace, key, value), ()):
            if labels_match(selector, meshed[position].spec.template.metadata.labels):
                selected[position].append(service)
    for position in sorted(selected):
        workload, services = meshed[position], selected[position]
        yield from _protocol_conflicts(workload, services)
        yield from _target_port_conflicts(workload, services)


def _protocol_conflicts(
    workload: Resource[WorkloadSpec], services: list[Resource[ServiceSpec]]
) -> Iterator[Finding]:
    protocols: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for service in services:
        for port in service.spec.ports or ():
            protocols[port.port][port.protocol or "TCP"].append(service.name)
    for number, by_protocol in sorted(protocols.items()):
        if len(by_protocol) < 2:
            continue
        shown = "; ".join(f"{p}: {', '.join(sorted(n))}" for p, n in sorted(by_protocol.items()))
        yield Finding.of(
            "deployment-multiple-services",
            f"the pods of {workload.kind} {workload.name} are selected by Services that use "
            f"port {number} with different protocols ({shown}): a sidecar serves a port with one",
            **workload.where("spec.template.metadata.labels"),
        )


def _target_port_conflicts(
    workload: Resource[WorkloadSpec], services: list[Resource[ServiceSpec]]
) -> Iterator[Finding]:
    ports: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for service in services:
        for port in service.spec.ports or ():
            target = str(port.target_port) if port.target_port not in (None, 0, "", "0") else ""
            ports[target or str(port.port)][port.port].add(service.name)
    for target, by_port in sorted(ports.items()):
        if len(by_port) < 2:
            continue
        names = ", ".join(sorted(set().union(*by_port.values())))
        numbers = ", ".join(str(n) for n in sorted(by_port))
        yield Finding.of(
            "deployment-conflicting-ports",
            f"Services {names} send ports {numbers} to targetPort {target} of the pods of "
            f"{workload.kind} {workload.name}: Istio requires Services that select the same "
            "pods with the same targetPort to use the same port",
            **workload.where("spec.template.metadata.labels"),
        )


def check_application_uid(snap: Snapshot) -> Iterator[Finding]:
    """IST0144: a pod, or an application container, runs as UID 1337, the proxy's: iptables
    lets that user's traffic bypass the proxy."""
    for resource in snap.kubernetes_objects:
        spec, prefix = resource.spec, "spec"
        if isinstance(spec, WorkloadSpec):
            spec, prefix = spec.template.spec, "spec.template.spec"
        if (
            not isinstance(spec, PodSpec)
            or resource.namespace in IGNORED_NAMESPACES
            or _control_plane(resource)
        ):
            continue
        context = spec.security_context
        if context is not None and context.run_as_user == PROXY_UID:
            yield _uid(resource, "the pod", f"{prefix}.securityContext.runAsUser")
        for index, container in enumerate(spec.containers):
            context = container.security_context
            if (
                container.name not in PROXY_CONTAINERS
                and context is not None
                and context.run_as_user == PROXY_UID
            ):
                field = f"{prefix}.containers[{index}].securityContext.runAsUser"
                yield _uid(resource, f"container {container.name or index!s}", field)


def _uid(resource: Resource[Any], who: str, field: str) -> Finding:
    return Finding.of(
        "invalid-application-uid",
        f"{who} runs as user ID 1337, which is reserved for the sidecar proxy: the proxy's "
        "traffic rules let that user's traffic bypass it",
        **resource.where(field),
    )


def check_jwks_fetch(snap: Snapshot) -> Iterator[Finding]:
    """IST0175: RequestAuthentications exist and istiod's Deployment in the files does not set
    BLOCKED_CIDRS_IN_JWKS_URIS, so istiod fetches their JWKS from any address."""
    names = sorted(
        [f"{r.namespace}/{r.name}" for r in snap.request_authentications]
        + [f"{b.namespace}/{b.name}" for b in snap.broken if b.kind == "RequestAuthentication"]
    )
    if not names:
        return
    shown = ", ".join(names[:MAX_NAMES])
    if len(names) > MAX_NAMES:
        shown += f", and {len(names) - MAX_NAMES} more"
    for workload in _workloads(snap):
        if workload.kind != "Deployment" or workload.metadata.labels.get("app") != "istiod":
            continue
        containers = workload.spec.template.spec.containers
        if any(e.name == BLOCKED_CIDRS and e.value for c in containers for e in c.env):
            continue
        index = next((i for i, c in enumerate(containers) if c.name == "discovery"), 0)
        field = f"spec.template.spec.containers[{index}].env" if containers else "spec.template"
        yield Finding.of(
            "jwks-fetch-unrestricted",
            f"{BLOCKED_CIDRS} is not set on istiod, but {len(names)} RequestAuthentication(s) "
            f"exist ({shown}): istiod fetches their JWKS from any address a jwksUri names; set "
            "it to the networks istiod must not reach (e.g. 169.254.0.0/16, the cluster's)",
            **workload.where(field),
        )
