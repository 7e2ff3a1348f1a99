"""Checks of ServiceEntries: addresses for TCP ports (IST0134), one protocol per host and port
(IST0177)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import NamedTuple

from reconciler.findings import Finding
from reconciler.model.resources import Resource
from reconciler.model.serviceentry import ServiceEntrySpec
from reconciler.model.snapshot import Snapshot

ServiceEntry = Resource[ServiceEntrySpec]
EVERYWHERE = "*"


def check_service_entries(snap: Snapshot) -> Iterator[Finding]:
    """A TCP port without addresses cannot be told apart from other TCP traffic (IST0134)."""
    for entry in snap.service_entries:
        if entry.spec.addresses:
            continue
        for index, port in enumerate(entry.spec.ports or ()):
            if (port.protocol or "TCP").upper() == "TCP":
                yield Finding.of(
                    "serviceentry-addresses-required",
                    f"port {port.number} is TCP (or has no protocol) but the ServiceEntry has "
                    "no addresses: its traffic cannot be told apart from other TCP traffic on "
                    "that port",
                    **entry.where(f"spec.ports[{index}]"),
                )


class _Port(NamedTuple):
    """One port of one host of a ServiceEntry, with its protocol as istioctl compares it."""

    entry: ServiceEntry
    position: int
    protocol: str


def check_serviceentry_protocols(snap: Snapshot) -> Iterator[Finding]:
    """ServiceEntries that some namespace sees together give one host and port different
    protocols (IST0177): istiod keeps one of them, so the proxy may parse the traffic as the
    wrong protocol.

    As istioctl: hosts as written, protocols compared in upper case (an unset protocol is one
    of its own), scopes from ``exportTo`` (``.`` the entry's namespace, empty or ``*`` every
    namespace, which meets every other scope); each entry is reported once. meshrc reads an
    entry without ``exportTo`` with the mesh's ``defaultServiceExportTo``, drops ``~`` (seen
    nowhere), and needs two entries: one entry's ports are the CRD's business.
    """
    by_scope: dict[tuple[str, str, int], list[_Port]] = defaultdict(list)
    for entry in snap.service_entries:
        for scope in _scopes(snap, entry):
            for host in entry.spec.hosts:
                for index, port in enumerate(entry.spec.ports or ()):
                    protocol = (port.protocol or "").upper()
                    by_scope[(scope, host, port.number)].append(_Port(entry, index, protocol))
    reported: set[tuple[str, str]] = set()
    for (scope, host, number), ports in sorted(by_scope.items()):
        if scope != EVERYWHERE:
            ports = [*ports, *by_scope.get((EVERYWHERE, host, number), ())]
        entries = sorted({(p.entry.namespace, p.entry.name) for p in ports})
        protocols = sorted({p.protocol for p in ports})
        if len(protocols) < 2 or len(entries) < 2:
            continue
        for member in ports:
            entry = member.entry
            if (entry.namespace, entry.name) in reported:
                continue
            reported.add((entry.namespace, entry.name))
            others = [f"{ns}/{n}" for ns, n in entries if (ns, n) != (entry.namespace, entry.name)]
            field = f"spec.ports[{member.position}]" + (".protocol" if member.protocol else "")
            yield Finding.of(
                "conflicting-serviceentry-protocol",
                f"host {host} port {number} is also defined by ServiceEntry "
                f"{', '.join(others)} "
                f"with another protocol ({', '.join(p or '(unset)' for p in protocols)}) for "
                f"{_shown_scope(scope)}: istiod keeps one of them, and the traffic may be read "
                "as the wrong protocol",
                **entry.where(field),
            )


def _scopes(snap: Snapshot, entry: ServiceEntry) -> set[str]:
    """The namespaces that see ``entry`` (``*`` for all)."""
    export_to = list(entry.spec.export_to or snap.mesh.default_service_export_to)
    if not export_to or EVERYWHERE in export_to:
        return {EVERYWHERE}
    return {entry.namespace if target == "." else target for target in export_to if target != "~"}


def _shown_scope(scope: str) -> str:
    return "every namespace" if scope == EVERYWHERE else f"namespace {scope}"
