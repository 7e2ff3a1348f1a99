"""Where the instances of each service are.

The files tell only part of it: ServiceEntries list their endpoints (or select WorkloadEntries);
a Kubernetes Service's endpoints are Pods that exist only in a cluster. For those, an endpoints
file (or the stand-in upstreams of ``meshrc verify``) says where they are::

    # endpoints.yaml: host[:port][/subset] -> address:port, ...
    reviews.shop.svc.cluster.local/v1: [127.0.0.1:9001]
    reviews.shop/v2: [127.0.0.1:9002, 127.0.0.1:9003]     # name.namespace is expanded
    ratings.shop:9080: [10.0.0.7:8080]

An entry with a subset gets that subset's labels (from the DestinationRule), so it is in the
subset's cluster and in the host's default cluster, as a Pod with those labels would be. An
entry without a port serves every port of the host.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.errors import RenderError
from reconciler.model.hosts import CLUSTER_DOMAIN, fqdn
from reconciler.model.snapshot import Snapshot
from reconciler.model.workloadentry import WorkloadEntrySpec

ANY_PORT = 0


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int | None
    """None: the service port's target port (or the service port itself)."""
    labels: tuple[tuple[str, str], ...] = ()
    weight: int | None = None

    def has_labels(self, selector: Mapping[str, str]) -> bool:
        own = dict(self.labels)
        return all(own.get(k) == v for k, v in selector.items())


@dataclass
class EndpointTable:
    """Endpoints by (host, service port); ``ANY_PORT`` entries serve every port of the host."""

    by_host: dict[tuple[str, int], list[Endpoint]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, host: str, port: int, endpoint: Endpoint) -> None:
        self.by_host[(host, port)].append(endpoint)

    def of(self, host: str, port: int) -> list[Endpoint]:
        return [*self.by_host.get((host, port), ()), *self.by_host.get((host, ANY_PORT), ())]

    def merged(self, other: EndpointTable) -> EndpointTable:
        table = EndpointTable()
        for source in (self, other):
            for key, endpoints in source.by_host.items():
                table.by_host[key].extend(endpoints)
        return table


def from_snapshot(snapshot: Snapshot) -> EndpointTable:
    """The endpoints the files declare: ServiceEntry endpoints, and the WorkloadEntries a
    ServiceEntry selects."""
    table = EndpointTable()
    for entry in snapshot.service_entries:
        spec = entry.spec
        selected: list[WorkloadEntrySpec] = list(spec.endpoints or ())
        if spec.workload_selector is not None:
            wanted = spec.workload_selector.labels or {}
            selected += [
                w.spec
                for w in snapshot.workload_entries
                if w.namespace == entry.namespace
                and all((w.spec.labels or {}).get(k) == v for k, v in wanted.items())
            ]
        for workload in selected:
            if not workload.address:
                continue
            for port in spec.ports or ():
                number = (workload.ports or {}).get(port.name) or port.target_port
                endpoint = Endpoint(
                    workload.address,
                    number,
                    tuple(sorted((workload.labels or {}).items())),
                    workload.weight,
                )
                for host in spec.hosts:
                    table.add(host, port.number, endpoint)
    return table


_KEY = re.compile(r"^(?P<host>[^:/\s]+)(?::(?P<port>\d+))?(?:/(?P<subset>[^/\s]+))?$")


def parse_endpoints_file(
    text: str, shown: str, subset_labels: Mapping[tuple[str, str], Mapping[str, str]]
) -> EndpointTable:
    """An endpoints file (see the module docstring); ``subset_labels[(host, subset)]`` are
    the labels a subset's endpoints get. Errors name the file and the entry."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RenderError(f"{shown}: not valid YAML: {exc}") from None
    if document is None:
        return EndpointTable()
    if not isinstance(document, dict):
        raise RenderError(f"{shown}: expected a mapping of host[:port][/subset] to addresses")
    table = EndpointTable()
    for key, addresses in sorted(document.items(), key=lambda item: str(item[0])):
        match = _KEY.match(str(key))
        if match is None:
            raise RenderError(f"{shown}: {key!r} is not host[:port][/subset]")
        host = _expand(match["host"])
        subset = match["subset"]
        labels: Mapping[str, str] = {}
        if subset is not None:
            if (host, subset) not in subset_labels:
                raise RenderError(f"{shown}: {key}: no DestinationRule defines subset {subset}")
            labels = subset_labels[(host, subset)]
        for address in _addresses(addresses, shown, str(key)):
            ip, port = _address(address, shown, str(key))
            table.add(
                host,
                int(match["port"] or ANY_PORT),
                Endpoint(ip, port, tuple(sorted(labels.items()))),
            )
    return table


def _expand(host: str) -> str:
    """``name.namespace`` -> the cluster-local FQDN; anything else as written."""
    if host.count(".") == 1:
        return f"{host}.{CLUSTER_DOMAIN}"
    return fqdn(host, "default")


def _addresses(value: Any, shown: str, key: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise RenderError(f"{shown}: {key}: expected address:port strings")
    return values


def _address(text: str, shown: str, key: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
        number = int(port)
    except ValueError:
        raise RenderError(f"{shown}: {key}: {text!r} is not an IP address:port") from None
    if not 0 < number < 65536:
        raise RenderError(f"{shown}: {key}: port {number} is out of range")
    return host.strip("[]"), number


def subset_labels(snapshot: Snapshot) -> dict[tuple[str, str], dict[str, str]]:
    """(host, subset) -> the labels the subset selects, for every DestinationRule subset."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for rule in snapshot.destination_rules:
        host = fqdn(rule.spec.host, rule.namespace)
        for subset in rule.spec.subsets or ():
            found.setdefault((host, subset.name), dict(subset.labels or {}))
    return found
