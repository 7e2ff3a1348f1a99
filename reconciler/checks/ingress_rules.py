"""IST0140: a gateway's route bypasses the subsets a mesh VirtualService splits its host into.

A VirtualService applies to the proxies of its ``gateways``: the sidecars (``mesh``) or the
gateways named. When the VirtualService of an ingress gateway routes to a host without a
subset, the gateway sends that traffic to every pod of the host, whatever subsets the mesh's
VirtualService for the host routes to (a canary at 10% gets its share of all pods instead).
istioctl's ``virtualservice.DestinationHostAnalyzer`` reports it, comparing hosts as written;
meshrc compares them fully qualified in each VirtualService's namespace, so ``reviews`` and
``reviews.shop.svc.cluster.local`` are one host and ``reviews`` of two namespaces are two, and
counts only VirtualServices that apply to the mesh as the ones splitting a host.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from reconciler.findings import Finding
from reconciler.model.hosts import fqdn
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import VirtualServiceSpec

MESH = "mesh"


def _splitting(snap: Snapshot, hosts: set[str]) -> dict[str, list[Resource[VirtualServiceSpec]]]:
    """Mesh VirtualServices by each of their own ``hosts`` that they route to a subset of."""
    found: dict[str, list[Resource[VirtualServiceSpec]]] = defaultdict(list)
    for vs in snap.virtual_services:
        spec = vs.spec
        if spec.gateways and MESH not in spec.gateways:
            continue
        own = {fqdn(h, vs.namespace) for h in spec.hosts or ()} & hosts
        if not own:
            continue
        split = {
            fqdn(entry.destination.host, vs.namespace)
            for rule in spec.http or ()
            for entry in rule.route or ()
            if entry.destination.subset
        }
        for host in sorted(own & split):
            found[host].append(vs)
    return found


def check_ingress_subsets(snap: Snapshot) -> Iterator[Finding]:
    # the gateway routes without subset first: few, so only their hosts are looked up
    bare: list[tuple[Resource[VirtualServiceSpec], int, int, str, str]] = []
    for vs in snap.virtual_services:
        gateways = vs.spec.gateways or ()
        if all(g == MESH for g in gateways):
            continue
        for i, rule in enumerate(vs.spec.http or ()):
            for j, entry in enumerate(rule.route or ()):
                written = entry.destination.host
                if not entry.destination.subset:
                    bare.append((vs, i, j, written, fqdn(written, vs.namespace)))
    if not bare:
        return
    splitting = _splitting(snap, {host for *_, host in bare})
    for vs, i, j, written, host in bare:
        for other in splitting.get(host, ()):
            if other is vs:
                continue
            yield Finding.of(
                "ingress-route-rules-not-affected",
                f"this gateway route sends {written} to no subset, so the "
                f"subsets VirtualService {other.namespace}/{other.name} splits it into "
                "do not apply to it: the gateway spreads it over every pod of the host; "
                "route to the subsets here too",
                **vs.where(f"spec.http[{i}].route[{j}].destination.host"),
            )
