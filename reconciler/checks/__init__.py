"""Conformance checks in Python: pure functions from a snapshot to findings.

Each module holds one family of checks; :data:`CHECKS` lists them all. A check never raises for
a problem in the manifests and never does I/O; it reads the snapshot's indexes, so every check
is linear in the size of the mesh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from reconciler.checks import (
    annotation_checks,
    deprecations,
    destinationrules,
    gateway_servers,
    gateways,
    ingress_rules,
    references,
    routing,
    security,
    serviceentries,
    sidecars,
    workloads,
)
from reconciler.findings import Finding
from reconciler.model.snapshot import Snapshot

Check = Callable[[Snapshot], Iterable[Finding]]

CHECKS: tuple[Check, ...] = (
    routing.check_routes,
    references.check_destinations,
    references.check_gateway_references,
    gateways.check_gateway_hosts,
    gateways.check_gateway_selectors,
    gateways.check_conflicting_hosts,
    destinationrules.check_destination_rules,
    serviceentries.check_service_entries,
    serviceentries.check_serviceentry_protocols,
    gateway_servers.check_gateway_ports,
    gateway_servers.check_conflicting_gateways,
    gateway_servers.check_duplicate_certificates,
    gateway_servers.check_gateway_credentials,
    sidecars.check_sidecars,
    security.check_security,
    deprecations.check_deprecated_fields,
    annotation_checks.check_annotations,
    workloads.check_service_ports,
    workloads.check_service_associations,
    workloads.check_application_uid,
    workloads.check_jwks_fetch,
    ingress_rules.check_ingress_subsets,
)


def run_checks(snapshot: Snapshot) -> list[Finding]:
    """Every check over ``snapshot``; the findings are not yet located nor suppressed."""
    return [finding for check in CHECKS for finding in check(snapshot)]
