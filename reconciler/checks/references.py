"""Checks that a VirtualService's names resolve: hosts, ports, subsets and gateways.

Short names resolve in the VirtualService's namespace, and only what is exported to that
namespace (``exportTo``) counts, as in istiod. A name defined by an object that failed
validation counts as defined: its own ``schema`` finding says what is wrong. (A broken
DestinationRule defines no host, only subsets: it does not hide a missing Service.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from reconciler.checks.walk import VirtualService, destinations, rule_lists
from reconciler.findings import Finding
from reconciler.model.hosts import fqdn, gateway_reference
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import (
    Destination,
    HTTPMatchRequest,
    HTTPRoute,
    L4MatchAttributes,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
)

MESH = "mesh"


def check_destinations(snap: Snapshot) -> Iterator[Finding]:
    for vs in snap.virtual_services:
        for path, dest in destinations(vs):
            yield from _destination(snap, vs, path, dest)


def _destination(
    snap: Snapshot, vs: VirtualService, path: str, dest: Destination
) -> Iterator[Finding]:
    host = fqdn(dest.host, vs.namespace)
    if "*" in host or snap.broken_backend(host):
        return
    backends = snap.find_backends(host, vs.namespace)
    if not backends:
        yield Finding.of(
            "host-not-found",
            f"{dest.host} is not a Service or ServiceEntry host visible from namespace "
            f"{vs.namespace} (looked for {host})",
            **vs.where(f"{path}.host"),
        )
        return
    ports = sorted({port for backend in backends for port in backend.ports})
    if dest.port is not None and dest.port.number is not None:
        if ports and dest.port.number not in ports:
            yield Finding.of(
                "port-not-found",
                f"port {dest.port.number} is not a port of {host} (ports: "
                f"{', '.join(map(str, ports))})",
                **vs.where(f"{path}.port.number"),
            )
    elif len(ports) > 1:
        yield Finding.of(
            "port-required",
            f"{host} has several ports ({', '.join(map(str, ports))}): the destination must "
            "name one",
            **vs.where(path),
        )
    if dest.subset and not snap.broken_rule(host):
        yield from _subset(snap, vs, path, dest.subset, host)


def _subset(
    snap: Snapshot, vs: VirtualService, path: str, subset: str, host: str
) -> Iterator[Finding]:
    rules = snap.rules_for(host, vs.namespace)
    defined = sorted({s.name for rule in rules for s in rule.spec.subsets or ()})
    if subset in defined:
        return
    if not rules:
        message = (
            f"subset {subset!r} of {host} is used, but no DestinationRule defines subsets for it"
        )
    else:
        names = ", ".join(f"{r.namespace}/{r.name}" for r in rules)
        have = ", ".join(defined) if defined else "none"
        message = (
            f"subset {subset!r} is not defined for {host} (DestinationRule {names} defines: {have})"
        )
    yield Finding.of("subset-not-found", message, **vs.where(f"{path}.subset"))


def check_gateway_references(snap: Snapshot) -> Iterator[Finding]:
    for vs in snap.virtual_services:
        for path, reference in _gateway_references(vs):
            if reference == MESH:
                continue
            namespace, name, legacy = gateway_reference(reference, vs.namespace)
            if legacy:
                yield Finding.of(
                    "deprecated",
                    f"gateway reference {reference!r} uses the deprecated name.namespace form; "
                    f"write {namespace}/{name}",
                    **vs.where(path),
                )
            key = (namespace, name)
            if key not in snap.gateways and key not in snap.broken_gateways:
                yield Finding.of(
                    "gateway-not-found",
                    f"gateway {namespace}/{name} does not exist",
                    **vs.where(path),
                )


def _gateway_references(vs: VirtualService) -> Iterator[tuple[str, str]]:
    for index, reference in enumerate(vs.spec.gateways or ()):
        yield f"spec.gateways[{index}]", reference
    for protocol, rules in rule_lists(vs):
        for r_index, rule in enumerate(rules):
            for m_index, match in enumerate(_matches(rule)):
                for g_index, reference in enumerate(match.gateways or ()):
                    path = f"spec.{protocol}[{r_index}].match[{m_index}].gateways[{g_index}]"
                    yield path, reference


def _matches(
    rule: HTTPRoute | TLSRoute | TCPRoute,
) -> Sequence[HTTPMatchRequest | TLSMatchAttributes | L4MatchAttributes]:
    return rule.match or ()
