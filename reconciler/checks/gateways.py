"""Checks of the binding between VirtualServices and Gateways (or the mesh).

Istio checks (IST0132) that at least one host of a VirtualService matches its gateway; a host
that no server admits is silently not served, so every host is checked here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from reconciler.checks.references import MESH
from reconciler.checks.walk import VirtualService, bound_gateways
from reconciler.findings import Finding
from reconciler.model.gateway import GatewaySpec
from reconciler.model.hosts import (
    fqdn,
    gateway_reference,
    intersects,
    scopes_overlap,
    split_gateway_host,
)
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot


def check_gateway_hosts(snap: Snapshot) -> Iterator[Finding]:
    for vs in snap.virtual_services:
        for g_index, reference in enumerate(vs.spec.gateways or ()):
            if reference == MESH:
                continue
            namespace, name, _ = gateway_reference(reference, vs.namespace)
            gateway = snap.gateways.get((namespace, name))
            if gateway is None:
                continue
            for h_index, host in enumerate(vs.spec.hosts or ()):
                if not _admits(gateway, vs.namespace, fqdn(host, vs.namespace)):
                    yield Finding.of(
                        "gateway-host-mismatch",
                        f"host {host} is bound to gateway {namespace}/{name} "
                        f"(gateways[{g_index}]), but no server of it admits this host from "
                        f"namespace {vs.namespace} "
                        f"(server hosts: {', '.join(_server_hosts(gateway))})",
                        **vs.where(f"spec.hosts[{h_index}]"),
                    )


def _server_hosts(gateway: Resource[GatewaySpec]) -> list[str]:
    return sorted({h for server in gateway.spec.servers or () for h in server.hosts or ()})


def _admits(gateway: Resource[GatewaySpec], vs_namespace: str, host: str) -> bool:
    for server in gateway.spec.servers or ():
        for server_host in server.hosts or ():
            namespace, name = split_gateway_host(server_host, gateway.namespace)
            if namespace in ("*", vs_namespace) and intersects(name, host):
                return True
    return False


def check_gateway_selectors(snap: Snapshot) -> Iterator[Finding]:
    for gateway in snap.gateways.values():
        selector = gateway.spec.selector
        if selector and not snap.workloads.select(None, dict(selector)):
            shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
            yield Finding.of(
                "gateway-selector-matches-nothing",
                f"selector {shown} matches no workload in the files: no proxy will serve this "
                "gateway",
                **gateway.where("spec.selector"),
            )


def check_conflicting_hosts(snap: Snapshot) -> Iterator[Finding]:
    """Two VirtualServices for one host on one gateway: istiod keeps only the oldest.

    Only VirtualServices that some namespace sees together conflict: with ``exportTo: ["."]``
    two namespaces may each route the same host their own way (as in istioctl's IST0109).
    """
    owners: dict[tuple[str, str], list[tuple[VirtualService, int]]] = defaultdict(list)
    for vs in snap.virtual_services:
        for reference in bound_gateways(vs):
            binding = (
                reference
                if reference == MESH
                else "/".join(gateway_reference(reference, vs.namespace)[:2])
            )
            for h_index, host in enumerate(vs.spec.hosts or ()):
                owners[(binding, fqdn(host, vs.namespace))].append((vs, h_index))
    for (binding, host), claims in owners.items():
        if len(claims) < 2:
            continue
        ordered = sorted(claims, key=lambda c: (c[0].namespace, c[0].name, c[1]))
        for position, (vs, h_index) in enumerate(ordered):
            first = next(
                (other for other, _ in ordered[:position] if _seen_together(other, vs)), None
            )
            if first is None:
                continue
            where = "the mesh" if binding == MESH else f"gateway {binding}"
            yield Finding.of(
                "conflicting-hosts",
                f"host {host} on {where} is also declared by VirtualService "
                f"{first.namespace}/{first.name}; only one of them takes effect",
                **vs.where(f"spec.hosts[{h_index}]"),
            )


def _seen_together(first: VirtualService, other: VirtualService) -> bool:
    return first is not other and scopes_overlap(
        first.spec.export_to, first.namespace, other.spec.export_to, other.namespace
    )
