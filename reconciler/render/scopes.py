"""What a namespace's sidecar may reach, as istiod's SidecarScope decides it from a Sidecar.

The sidecar view (``--proxy mesh``) is a namespace's proxy, not one workload's, so only
Sidecars without ``workloadSelector`` apply: the namespace's own, else the mesh-wide default
(the root namespace's), whose ``.`` is then the proxy's namespace. Without either, every
visible host is imported (istiod's ``*/*``).

Simplifications, said in the render's notes where they matter: the egress listeners' imports
are merged (a VirtualService one listener admits routes on every port), and ``bind`` and
``captureMode`` are not rendered (the listeners bind where the render options say).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from reconciler.model.hosts import fqdn
from reconciler.model.resources import Resource
from reconciler.model.sidecar import EgressScope, SidecarSpec
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import VirtualServiceSpec
from reconciler.render.registry import MeshService, Resolver

Sidecar = Resource[SidecarSpec]


class SidecarScope:
    """The Sidecar applying to a namespace's sidecar view (None: import everything)."""

    def __init__(self, snapshot: Snapshot, namespace: str) -> None:
        self.notes: list[str] = []
        self.sidecar = self._choose(snapshot, namespace)
        spec = self.sidecar.spec if self.sidecar is not None else None
        self._listeners = [EgressScope(x, namespace) for x in (spec.egress if spec else None) or ()]
        if spec is not None and any(x.bind or x.capture_mode for x in spec.egress or ()):
            self.notes.append(f"{self._ref}: egress bind and captureMode are not rendered")

    @property
    def narrows(self) -> bool:
        """Whether a Sidecar with egress listeners limits what is imported."""
        return bool(self._listeners)

    @property
    def _ref(self) -> str:
        return self.sidecar.ref if self.sidecar is not None else "no Sidecar"

    def _choose(self, snapshot: Snapshot, namespace: str) -> Sidecar | None:
        own: list[Sidecar] = []
        root: list[Sidecar] = []
        for sidecar in snapshot.sidecars:
            if sidecar.namespace == namespace and sidecar.spec.selector():
                self.notes.append(
                    f"{sidecar.ref} selects workloads: the namespace's sidecar view (no "
                    "workload) does not apply it"
                )
            elif not sidecar.spec.selector():
                if sidecar.namespace == namespace:
                    own.append(sidecar)
                elif sidecar.namespace == snapshot.mesh.root_namespace:
                    root.append(sidecar)
        candidates = sorted(own or root, key=lambda s: s.name)
        if len(candidates) > 1:
            self.notes.append(
                f"several Sidecars without workloadSelector in {candidates[0].namespace}: "
                f"{candidates[0].ref} applied (istiod takes the oldest)"
            )
        return candidates[0] if candidates else None

    def imported(self, services: Iterable[MeshService]) -> list[MeshService]:
        """The services some egress listener imports, each with the ports it imports (a
        listener with a port imports that port alone), in the order given."""
        if not self.narrows:
            return list(services)
        found = []
        for service in services:
            ports: set[int] = set()
            for listener in self._listeners:
                if listener.admits_service(service.host, service.namespace):
                    if listener.match_port:
                        ports.update(p.number for p in service.ports if p.number == listener.port)
                    else:
                        ports.update(p.number for p in service.ports)
            if ports:
                kept = tuple(p for p in service.ports if p.number in ports)
                found.append(dataclasses.replace(service, ports=kept))
        return found

    def admits(self, vs: Resource[VirtualServiceSpec]) -> bool:
        """Whether some egress listener imports this (mesh-bound, visible) VirtualService."""
        if not self.narrows:
            return True
        hosts = [fqdn(host, vs.namespace) for host in vs.spec.hosts or ()]
        return any(
            listener.admits_virtual_service(hosts, vs.namespace) for listener in self._listeners
        )


def with_destinations(
    imported: list[MeshService],
    virtual_services: Iterable[Resource[VirtualServiceSpec]],
    resolve: Resolver,
) -> list[MeshService]:
    """The imported services and the services the admitted VirtualServices route to: istiod
    adds those to the proxy's clusters (not to its virtual hosts), so that a route never points
    at a missing cluster. Sorted by host, as the registry is."""
    by_host = {service.host: service for service in imported}
    for vs in virtual_services:
        for destination in _destinations(vs):
            service = resolve.service(fqdn(destination, vs.namespace))
            if service is not None:
                by_host.setdefault(service.host, service)
    return sorted(by_host.values(), key=lambda s: s.host)


def _destinations(vs: Resource[VirtualServiceSpec]) -> Iterable[str]:
    spec = vs.spec
    for rule in [*(spec.http or ()), *(spec.tls or ()), *(spec.tcp or ())]:
        for entry in rule.route or ():
            yield entry.destination.host
    for http in spec.http or ():
        if http.mirror is not None:
            yield http.mirror.host
        for mirror in http.mirrors or ():
            yield mirror.destination.host
