"""Istio's host-name rules: short names, wildcards, exportTo and gateway server hosts.

Pure functions, shared by the snapshot indexes and the checks so that every check resolves a
name exactly as istiod does.
"""

from __future__ import annotations

from collections.abc import Iterable

CLUSTER_DOMAIN = "svc.cluster.local"


def fqdn(host: str, namespace: str) -> str:
    """Expand a short name in ``namespace``: ``reviews`` -> ``reviews.<ns>.svc.cluster.local``.

    Names with a dot, wildcards and IP addresses are taken as written, as istiod does.
    """
    if "." in host or host == "*" or ":" in host:
        return host
    return f"{host}.{namespace}.{CLUSTER_DOMAIN}"


def service_fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.{CLUSTER_DOMAIN}"


def covers(pattern: str, host: str) -> bool:
    """Whether the name ``pattern`` (maybe a ``*.`` wildcard) includes ``host``.

    ``*.example.com`` covers ``a.example.com`` and ``*.a.example.com`` but not ``example.com``.
    """
    if pattern == host or pattern == "*":
        return True
    if pattern.startswith("*"):
        suffix = pattern[1:]
        return host.endswith(suffix) and len(host) > len(suffix)
    return False


def intersects(a: str, b: str) -> bool:
    """Whether two host names, either maybe a wildcard, name at least one host in common."""
    return covers(a, b) or covers(b, a)


def visible(export_to: Iterable[str] | None, owner_namespace: str, client_namespace: str) -> bool:
    """Whether a resource of ``owner_namespace`` with ``exportTo`` is seen from another namespace.

    Empty means everywhere (mesh default); ``.`` the owner's namespace; ``~`` nowhere.
    """
    targets = list(export_to or ())
    if not targets:
        return True
    for target in targets:
        if target == "*":
            return True
        if target == "." and client_namespace == owner_namespace:
            return True
        if target == client_namespace:
            return True
    return False


def scopes_overlap(
    a_export_to: Iterable[str] | None,
    a_namespace: str,
    b_export_to: Iterable[str] | None,
    b_namespace: str,
) -> bool:
    """Whether some namespace sees both resources, each with its ``exportTo`` and namespace."""
    a, b = _scope(a_export_to, a_namespace), _scope(b_export_to, b_namespace)
    if a is None:
        return b is None or bool(b)
    if b is None:
        return bool(a)
    return bool(a & b)


def _scope(export_to: Iterable[str] | None, owner_namespace: str) -> frozenset[str] | None:
    """The namespaces that see a resource; None for every namespace."""
    targets = list(export_to or ())
    if not targets or "*" in targets:
        return None
    return frozenset(owner_namespace if t == "." else t for t in targets if t != "~")


def split_gateway_host(server_host: str, gateway_namespace: str) -> tuple[str, str]:
    """A Gateway server host ``[ns/]host`` as (namespace pattern, host); ``.`` is the gateway's."""
    namespace, sep, host = server_host.partition("/")
    if not sep:
        return "*", server_host
    return (gateway_namespace if namespace == "." else namespace), host


def gateway_reference(reference: str, namespace: str) -> tuple[str, str, bool]:
    """Resolve a VirtualService ``gateways`` entry to (namespace, name, legacy_form).

    ``ns/name``, ``./name`` and ``name`` (both in the VirtualService's namespace) are current;
    ``name.ns[.svc...]`` is the deprecated form, still honoured by istiod.
    """
    if "/" in reference:
        gw_namespace, _, name = reference.partition("/")
        return (namespace if gw_namespace == "." else gw_namespace), name, False
    if "." in reference:
        name, _, rest = reference.partition(".")
        return rest.split(".")[0], name, True
    return namespace, reference, False


def labels_match(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """Whether every key/value of ``selector`` is in ``labels`` (an empty selector matches)."""
    return all(labels.get(key) == value for key, value in (selector or {}).items())


TOPOLOGY_LABELS = frozenset(
    {
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.istio.io/subzone",
        "topology.istio.io/cluster",
        "topology.istio.io/network",
        "kubernetes.io/hostname",
    }
)
"""Labels istiod adds to every endpoint from its Node, cluster and network: subsets may select
on them, and the files cannot tell their values."""


def endpoint_labels_match(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """:func:`labels_match` for an endpoint, whose topology labels are unknown unless the
    workload sets them itself: a topology key it does not set may have any value."""
    return all(
        labels.get(key) == value or (key in TOPOLOGY_LABELS and key not in labels)
        for key, value in (selector or {}).items()
    )
