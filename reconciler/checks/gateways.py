"""Checks of the binding between VirtualServices and Gateways (or the mesh).

Istio checks (IST0132) that at least one host of a VirtualService matches its gateway; a host
that no server admits is silently not served, so every host is checked here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import NamedTuple

from reconciler.checks.references import MESH
from reconciler.checks.walk import VirtualService, bound_gateways, matches_everything
from reconciler.findings import Finding
from reconciler.model.hosts import (
    fqdn,
    gateway_reference,
    intersects,
    scopes_overlap,
    split_gateway_host,
)
from reconciler.model.snapshot import Snapshot


def check_gateway_hosts(snap: Snapshot) -> Iterator[Finding]:
    """Hosts a bound gateway does not serve.

    As istioctl (IST0132), a gateway that admits none of the VirtualService's hosts is
    reported on its ``gateways`` entry. A VirtualService bound to several gateways may give
    each some of its hosts, so a host is reported only when no gateway it is bound to admits
    it (and the VirtualService is not bound to the mesh too, which serves any host).
    """
    for vs in snap.virtual_services_to_check():
        hosts = [fqdn(host, vs.namespace) for host in vs.spec.hosts or ()]
        admitted: set[int] = set()
        bound = False
        for g_index, reference in enumerate(vs.spec.gateways or ()):
            if reference == MESH:
                continue
            namespace, name, _ = gateway_reference(reference, vs.namespace)
            server_hosts = _server_host_names(snap, namespace, name, vs.namespace)
            if server_hosts is None:
                continue  # missing (reported as gateway-not-found) or not readable
            bound = True
            admits = {i for i, host in enumerate(hosts) if _admitted(server_hosts, host)}
            admitted |= admits
            if hosts and not admits:
                yield Finding.of(
                    "gateway-host-mismatch",
                    f"gateway {namespace}/{name} admits none of the hosts "
                    f"({', '.join(vs.spec.hosts or ())}) from namespace {vs.namespace} "
                    f"(server hosts: {', '.join(_server_hosts(snap, namespace, name))})",
                    **vs.where(f"spec.gateways[{g_index}]"),
                )
        if not bound or not admitted or MESH in (vs.spec.gateways or ()):
            continue
        for h_index, host in enumerate(vs.spec.hosts or ()):
            if h_index not in admitted:
                yield Finding.of(
                    "gateway-host-mismatch",
                    f"host {host} is admitted by none of the gateways this VirtualService is "
                    f"bound to ({', '.join(vs.spec.gateways or ())}): it is not served",
                    **vs.where(f"spec.hosts[{h_index}]"),
                )


def _server_host_names(
    snap: Snapshot, namespace: str, name: str, vs_namespace: str
) -> list[str] | None:
    """The host names a gateway offers to VirtualServices of ``vs_namespace`` (``*`` for a
    Gateway API listener without hostname); None when the gateway is not known."""
    gateway = snap.gateways.get((namespace, name))
    if gateway is not None:
        names = []
        for server in gateway.spec.servers or ():
            for server_host in server.hosts or ():
                host_namespace, host = split_gateway_host(server_host, gateway.namespace)
                if host_namespace in ("*", vs_namespace):
                    names.append(host)
        return sorted(set(names))
    if (namespace, name) in snap.kubernetes_gateways:
        hostnames = snap.kubernetes_gateways[(namespace, name)]
        return ["*"] if hostnames is None else sorted(set(hostnames))
    return None


def _admitted(server_hosts: list[str], host: str) -> bool:
    return any(intersects(server_host, host) for server_host in server_hosts)


def _server_hosts(snap: Snapshot, namespace: str, name: str) -> list[str]:
    """The hosts of a gateway's servers as written (a Gateway API one's listener hostnames)."""
    gateway = snap.gateways.get((namespace, name))
    if gateway is not None:
        return sorted({h for server in gateway.spec.servers or () for h in server.hosts or ()})
    return sorted(snap.kubernetes_gateways.get((namespace, name)) or ("*",))


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
    yield from _mesh_conflicts(snap)
    yield from _gateway_catch_alls(snap)


class _Claim(NamedTuple):
    """A host declared by a mesh-bound VirtualService."""

    vs: VirtualService
    h_index: int
    host: str

    @property
    def base(self) -> str:
        """The name without its wildcard label: ``*.a.b`` -> ``a.b``."""
        return self.host[2:] if self.host.startswith("*.") else self.host


def _mesh_conflicts(snap: Snapshot) -> Iterator[Finding]:
    """Two mesh VirtualServices for overlapping hosts (IST0109): istiod's choice is undefined.

    Hosts overlap when equal or when a wildcard covers the other (``*.d`` and
    ``*.productpage.d``). Only VirtualServices that some namespace sees together conflict: with
    ``exportTo: ["."]`` two namespaces may each route the same host their own way. Every member
    of a conflict is reported, as istioctl does.
    """
    claims = [
        _Claim(vs, h_index, fqdn(host, vs.namespace))
        for vs in snap.virtual_services_to_check()
        if MESH in bound_gateways(vs)
        for h_index, host in enumerate(vs.spec.hosts or ())
    ]
    exact: dict[str, list[_Claim]] = defaultdict(list)
    for claim in claims:
        exact[claim.host].append(claim)
    wildcards = any(claim.host.startswith("*") for claim in claims)
    below: dict[str, list[_Claim]] = defaultdict(list)  # by each proper suffix of the base
    for claim in claims if wildcards else ():
        labels = claim.base.split(".")
        for start in range(1, len(labels)):
            below[".".join(labels[start:])].append(claim)
    for claim in claims:
        others = list(exact[claim.host])
        if not wildcards:
            if len(others) < 2:
                continue
        elif claim.host == "*":
            others = claims
        else:
            others += exact.get("*", ())
            if claim.host.startswith("*."):
                others += below.get(claim.base, ())
            labels = claim.base.split(".")
            for start in range(1, len(labels)):
                others += exact.get("*." + ".".join(labels[start:]), ())
        rivals = sorted(
            {
                f"{o.vs.namespace}/{o.vs.name}"
                for o in others
                if _seen_together(snap, claim.vs, o.vs)
            }
        )
        if rivals:
            shown = ", ".join(rivals[:5]) + (
                f" and {len(rivals) - 5} more" if len(rivals) > 5 else ""
            )
            yield Finding.of(
                "conflicting-hosts",
                f"host {claim.host} on the mesh is also declared by VirtualService {shown}; "
                "which one routes it is undefined: merge them into one VirtualService",
                **claim.vs.where(f"spec.hosts[{claim.h_index}]"),
            )


def _gateway_catch_alls(snap: Snapshot) -> Iterator[Finding]:
    """VirtualServices of one host on one gateway are merged by istiod, in creation order, so
    splitting a host's paths over several is fine; but when two of them each have a rule that
    matches every request, the rules of the one merged second never match."""
    groups: dict[tuple[str, str], list[tuple[VirtualService, int]]] = defaultdict(list)
    for vs in snap.virtual_services_to_check():
        catch_all = _catch_all_rule(vs)
        if catch_all is None:
            continue
        for reference in vs.spec.gateways or ():
            if reference == MESH:
                continue
            namespace, name, _ = gateway_reference(reference, vs.namespace)
            server_hosts = _server_host_names(snap, namespace, name, vs.namespace)
            for host in vs.spec.hosts or ():
                full = fqdn(host, vs.namespace)
                if server_hosts is not None and _admitted(server_hosts, full):
                    groups[(f"{namespace}/{name}", full)].append((vs, catch_all))
    for (gateway, host), members in sorted(groups.items()):
        if len({(vs.namespace, vs.name) for vs, _ in members}) < 2:
            continue
        for vs, rule in members:
            others = sorted({f"{o.namespace}/{o.name}" for o, _ in members if o is not vs})
            yield Finding.of(
                "conflicting-hosts",
                f"host {host} on gateway {gateway} is also routed by VirtualService "
                f"{', '.join(others)}; istiod merges them in creation order and each has a rule "
                "matching every request, so the rules merged second never match",
                severity="warning",
                **vs.where(f"spec.http[{rule}]"),
            )


def _catch_all_rule(vs: VirtualService) -> int | None:
    for index, rule in enumerate(vs.spec.http or ()):
        if not rule.match or any(matches_everything(m) for m in rule.match):
            return index
    return None


def _seen_together(snap: Snapshot, first: VirtualService, other: VirtualService) -> bool:
    return first is not other and scopes_overlap(
        snap.virtual_service_export_to(first),
        first.namespace,
        snap.virtual_service_export_to(other),
        other.namespace,
    )
