"""Conformance checks in Python: pure functions from a snapshot to findings.

Each module holds one family of checks; :data:`CHECKS` lists them all. A check never raises for
a problem in the manifests and never does I/O; it reads the snapshot's indexes, so every check
is linear in the size of the mesh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from reconciler.checks import (
    deprecations,
    destinationrules,
    gateways,
    references,
    routing,
    serviceentries,
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
    deprecations.check_deprecated_fields,
)


def run_checks(snapshot: Snapshot) -> list[Finding]:
    """Every check over ``snapshot``; the findings are not yet located nor suppressed."""
    return [finding for check in CHECKS for finding in check(snapshot)]
