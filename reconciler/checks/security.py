"""Checks of AuthorizationPolicies, PeerAuthentications and RequestAuthentications, and of the
places where they meet routing: plaintext sent to STRICT mTLS workloads, and routes on JWT
claims that no RequestAuthentication makes available.

Which policies apply to a workload follows istiod (``pilot/pkg/model/authentication.go``,
``authorization.go``, ``policyattachment.go``): a policy of the mesh root namespace without
selector applies to every workload; one with a selector to the matching workloads of every
namespace (a PeerAuthentication with a selector there is ignored); any other policy only to
workloads of its own namespace. A policy with ``targetRef(s)`` attaches to Gateway API gateways
and waypoints by name, never to sidecars, so it is not judged by labels here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from reconciler.checks.walk import bound_gateways
from reconciler.findings import Finding
from reconciler.model.destinationrule import ClientTLSSettings, DestinationRuleSpec, TrafficPolicy
from reconciler.model.hosts import (
    covers,
    endpoint_labels_match,
    fqdn,
    gateway_reference,
    labels_match,
)
from reconciler.model.kubernetes import ServiceSpec
from reconciler.model.resources import Resource
from reconciler.model.security import PeerAuthenticationSpec
from reconciler.model.serviceentry import ServiceEntrySpec
from reconciler.model.snapshot import Backend, Snapshot
from reconciler.model.virtualservice import VirtualServiceSpec
from reconciler.source.positions import PathPart, format_path

PeerAuthentication = Resource[PeerAuthenticationSpec]
KUBERNETES_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
"""Namespaces every Kubernetes cluster has, whether or not the files declare them."""
JWT_CLAIM_HEADER = "@request.auth.claims"


def check_security(snap: Snapshot) -> Iterator[Finding]:
    yield from _policy_selectors(snap)
    yield from _source_namespaces(snap)
    yield from _plaintext_to_strict(snap)
    yield from _jwt_claim_routes(snap)


# --- policies that select nothing ---------------------------------------------------------


def _policy_selectors(snap: Snapshot) -> Iterator[Finding]:
    """IST0127 for AuthorizationPolicies, and the same for the two authentication kinds.

    The files rarely hold every workload of a mesh, so a selector is judged only where the
    files declare workloads: in the policy's namespace, or (root namespace) in any. For the
    same reason a namespace-wide policy is never judged, unlike istioctl, which sees the pods.
    A PeerAuthentication with a selector in the root namespace is always reported: istiod's
    ComposePeerAuthentication skips it.
    """
    root = snap.mesh.root_namespace
    policies: list[Resource[Any]] = [
        *snap.authorization_policies,
        *snap.peer_authentications,
        *snap.request_authentications,
    ]
    populated: dict[str | None, bool] = {}
    for policy in policies:
        spec = policy.spec
        if getattr(spec, "target_ref", None) or getattr(spec, "target_refs", None):
            continue
        labels = dict(spec.selector.match_labels or {}) if spec.selector else {}
        if not labels:
            continue
        scope = None if policy.namespace == root else policy.namespace
        if scope is None and policy.kind == "PeerAuthentication":
            yield Finding.of(
                "policy-selects-nothing",
                f"istiod ignores a PeerAuthentication with a selector in the root namespace "
                f"{root}: it applies to no workload (put it in the workloads' namespace)",
                **policy.where("spec.selector"),
            )
            continue
        if scope not in populated:
            populated[scope] = bool(snap.workloads.select(scope, {}))
        if populated[scope] and not snap.workloads.select(scope, labels):
            shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
            where = "in any namespace" if scope is None else f"in namespace {scope}"
            yield Finding.of(
                "policy-selects-nothing",
                f"selector {shown} matches no workload {where} in the files: this "
                f"{policy.kind} applies to nothing",
                **policy.where("spec.selector"),
            )


# --- source namespaces that do not exist --------------------------------------------------


def _source_namespaces(snap: Snapshot) -> Iterator[Finding]:
    """IST0101 for ``from.source.(not)namespaces``, as istioctl's authz analyzer.

    Only when the files declare Namespace objects: without them, any namespace named is as
    likely to exist as not. A namespace that a resource of the files lives in, the root
    namespace and the namespaces of every Kubernetes cluster exist as well.
    """
    if not snap.namespace_labels:
        return
    known = sorted(
        {*snap.namespace_labels, *snap.namespaces, snap.mesh.root_namespace} | KUBERNETES_NAMESPACES
    )
    names = {ns.lower() for ns in known}
    for policy in snap.authorization_policies:
        for r_index, rule in enumerate(policy.spec.rules or ()):
            for f_index, item in enumerate(rule.from_ or ()):
                source = item.source
                if source is None:
                    continue
                for name, values in (
                    ("namespaces", source.namespaces),
                    ("notNamespaces", source.not_namespaces),
                ):
                    for n_index, pattern in enumerate(values or ()):
                        if pattern.lower() in names or (
                            "*" in pattern and any(_namespace_match(pattern, ns) for ns in known)
                        ):
                            continue
                        path = f"spec.rules[{r_index}].from[{f_index}].source.{name}[{n_index}]"
                        yield Finding.of(
                            "authz-namespace-not-found",
                            f"namespace {pattern!r} is neither declared in the files nor the "
                            "namespace of any of their resources: this source never matches",
                            **policy.where(path),
                        )


def _namespace_match(pattern: str, namespace: str) -> bool:
    """Istio's namespace matching in policies: ``*``, ``prefix*``, ``*suffix`` or the name."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return pattern.lower() == namespace.lower()


# --- plaintext to STRICT mTLS -------------------------------------------------------------


@dataclass(frozen=True)
class _Tls:
    """The client TLS one DestinationRule gives one port of one subset, and where it is set;
    ``port_level`` when a port-level setting decided it (even by leaving TLS out)."""

    settings: ClientTLSSettings | None
    path: str
    port_level: bool = False


class _PeerPolicies:
    """PeerAuthentications by scope, to compose a workload's mode as istiod does."""

    def __init__(self, snap: Snapshot) -> None:
        root = snap.mesh.root_namespace
        self.mesh: list[PeerAuthentication] = []
        self.namespace: dict[str, list[PeerAuthentication]] = defaultdict(list)
        self.workload: dict[str, list[tuple[dict[str, str], PeerAuthentication]]] = defaultdict(
            list
        )
        for policy in snap.peer_authentications:
            selector = policy.spec.selector
            labels = dict(selector.match_labels or {}) if selector is not None else {}
            if not labels:
                if policy.namespace == root:
                    self.mesh.append(policy)
                else:
                    self.namespace[policy.namespace].append(policy)
            elif policy.namespace != root:  # istiod ignores a selector in the root namespace
                self.workload[policy.namespace].append((labels, policy))
        self._known: dict[
            tuple[str, tuple[tuple[str, str], ...], int | None], list[PeerAuthentication] | None
        ] = {}

    def strict(
        self, namespace: str, labels: dict[str, str], port: int | None
    ) -> list[PeerAuthentication] | None:
        """The policies that make ``port`` of the workload STRICT; None when it may accept
        plaintext. With several policies at one level istiod takes the oldest, which the files
        cannot tell: STRICT only if every choice gives STRICT."""
        key = (namespace, tuple(sorted(labels.items())), port)
        if key not in self._known:
            self._known[key] = self._strict(namespace, labels, port)
        return self._known[key]

    def _strict(
        self, namespace: str, labels: dict[str, str], port: int | None
    ) -> list[PeerAuthentication] | None:
        workload = [p for sel, p in self.workload.get(namespace, ()) if labels_match(sel, labels)]
        deciders: dict[tuple[str, str], PeerAuthentication] = {}
        for mesh, space, own in product(
            _choices(self.mesh), _choices(self.namespace.get(namespace, [])), _choices(workload)
        ):
            if _compose(mesh, space, own, port) != {"STRICT"}:
                return None
            for policy in (own, space, mesh):
                if policy is not None and _sets(policy, port):
                    deciders[(policy.namespace, policy.name)] = policy
                    break
        return [deciders[key] for key in sorted(deciders)]


def _choices(policies: list[PeerAuthentication]) -> list[PeerAuthentication | None]:
    """The policies istiod may pick at one level (none: the level is absent)."""
    return list(policies) or [None]


def _mode(policy: PeerAuthentication | None) -> str | None:
    mtls = policy.spec.mtls if policy is not None else None
    return mtls.mode if mtls is not None and mtls.mode not in (None, "UNSET") else None


def _sets(policy: PeerAuthentication, port: int | None) -> bool:
    """Whether the policy sets the mode of ``port`` (or of the whole workload)."""
    level = (policy.spec.port_level_mtls or {}).get(str(port))
    return _mode(policy) is not None or (level is not None and level.mode not in (None, "UNSET"))


def _compose(
    mesh: PeerAuthentication | None,
    namespace: PeerAuthentication | None,
    workload: PeerAuthentication | None,
    port: int | None,
) -> set[str]:
    """istiod's ComposePeerAuthentication: PERMISSIVE, overridden by the mesh, namespace and
    workload modes that are set, then by the workload's port-level mode (UNSET inherits). An
    unknown ``port`` may be any port: every mode it could have."""
    mode = _mode(workload) or _mode(namespace) or _mode(mesh) or "PERMISSIVE"
    levels = (workload.spec.port_level_mtls or {}) if workload is not None else {}
    inherited = {
        key: level.mode if level.mode not in (None, "UNSET") else mode
        for key, level in levels.items()
    }
    if port is None:
        return {mode, *inherited.values()}
    return {inherited.get(str(port), mode)}


def _plaintext_to_strict(snap: Snapshot) -> Iterator[Finding]:
    """A DestinationRule ``tls.mode: DISABLE`` toward workloads that only accept mTLS.

    The client sends plaintext, the server's sidecar refuses it: every request fails. Kiali
    reports it as KIA0207/KIA0208; istioctl has had no analyzer for it since IST0113 retired.
    A rule is judged for the hosts it wins for its own namespace's clients (the most specific
    host, as istiod picks).
    """
    if not snap.peer_authentications:
        return
    peers = _PeerPolicies(snap)
    for rule in snap.destination_rules:
        if not _disables_somewhere(rule.spec):
            continue
        reported: set[str | None] = set()
        for backend in _backends(snap, rule):
            for finding in _backend_conflicts(rule, backend, peers):
                if finding.field not in reported:
                    reported.add(finding.field)
                    yield finding


def _disables_somewhere(spec: DestinationRuleSpec) -> bool:
    policies = [spec.traffic_policy, *(s.traffic_policy for s in spec.subsets or ())]
    for policy in policies:
        if policy is None:
            continue
        tls_list = [policy.tls, *(p.tls for p in policy.port_level_settings or ())]
        if any(tls is not None and tls.mode == "DISABLE" for tls in tls_list):
            return True
    return False


def _backends(snap: Snapshot, rule: Resource[DestinationRuleSpec]) -> list[Backend]:
    """The backends ``rule`` applies to whose endpoints are mesh workloads: Services with a
    selector and ServiceEntries that select workloads."""
    host = fqdn(rule.spec.host, rule.namespace)
    if "*" in host:
        found = [b for name, group in snap.backends.items() if covers(host, name) for b in group]
    else:
        found = list(snap.backends.get(host, ()))
    return [
        b
        for b in found
        if b.endpoint_labels
        and (isinstance(b.resource.spec, ServiceSpec) or _selects_workloads(b.resource.spec))
        and any(r is rule for r in snap.rules_for(b.host, rule.namespace))
    ]


def _selects_workloads(spec: object) -> bool:
    return isinstance(spec, ServiceEntrySpec) and spec.workload_selector is not None


def _backend_conflicts(
    rule: Resource[DestinationRuleSpec], backend: Backend, peers: _PeerPolicies
) -> Iterator[Finding]:
    subsets: list[tuple[str | None, dict[str, str], TrafficPolicy | None, str]] = [
        (None, {}, None, "")
    ]
    for index, subset in enumerate(rule.spec.subsets or ()):
        path = f"spec.subsets[{index}].trafficPolicy"
        subsets.append((subset.name, dict(subset.labels or {}), subset.traffic_policy, path))
    for port in sorted(backend.ports):
        target = _target_port(backend, port)
        for name, labels, policy, path in subsets:
            tls = _effective_tls(rule.spec.traffic_policy, policy, path, port)
            if tls.settings is None or tls.settings.mode != "DISABLE":
                continue
            for endpoint in backend.endpoint_labels or ():
                if name is not None and not endpoint_labels_match(labels, endpoint):
                    continue
                deciders = peers.strict(backend.namespace, endpoint, target)
                if deciders is None:
                    continue
                shown = ", ".join(f"PeerAuthentication {p.namespace}/{p.name}" for p in deciders)
                of_subset = f" (subset {name})" if name is not None else ""
                yield Finding.of(
                    "mtls-disabled-for-strict-workload",
                    f"tls.mode DISABLE sends plaintext to {backend.host} port {port}{of_subset}, "
                    f"whose workloads accept only mTLS ({shown} is STRICT): every request fails",
                    **rule.where(tls.path),
                )
                break


def _effective_tls(
    top: TrafficPolicy | None, subset: TrafficPolicy | None, subset_path: str, port: int
) -> _Tls:
    """istiod's MergeSubsetTrafficPolicy for the TLS of ``port``: a port-level setting
    replaces the level it is in, a subset's TLS (or port-level setting) replaces the rule's."""
    tls = _port_tls(top, "spec.trafficPolicy", port)
    if subset is not None:
        chosen = _port_tls(subset, subset_path, port)
        if chosen.settings is not None or chosen.port_level:
            tls = chosen
    return tls


def _port_tls(policy: TrafficPolicy | None, path: str, port: int) -> _Tls:
    if policy is None:
        return _Tls(None, path)
    for index, level in enumerate(policy.port_level_settings or ()):
        if level.port is not None and level.port.number == port:
            at = f"{path}.portLevelSettings[{index}]"
            return _Tls(level.tls, f"{at}.tls" if level.tls is not None else at, True)
    return _Tls(policy.tls, f"{path}.tls")


def _target_port(backend: Backend, port: int) -> int | None:
    """The workload port behind a service port; None when it is named (its number is in the
    pod spec, which meshrc does not read)."""
    spec = backend.resource.spec
    target: int | str | None = None
    if isinstance(spec, ServiceSpec):
        target = next((p.target_port for p in spec.ports or () if p.port == port), None)
    elif isinstance(spec, ServiceEntrySpec):
        target = next((p.target_port for p in spec.ports or () if p.number == port), None)
    if target is None:
        return port
    return target if isinstance(target, int) else None


# --- routing on JWT claims ----------------------------------------------------------------


def _jwt_claim_routes(snap: Snapshot) -> Iterator[Finding]:
    """IST0149: a VirtualService routes on ``@request.auth.claims`` on a gateway whose pods
    no RequestAuthentication selects, so no claim is ever there to match.

    As istioctl, for each gateway the VirtualService binds; its pods in every namespace; a
    RequestAuthentication of the pod's namespace or of the root namespace. A pod an invalid
    RequestAuthentication of those namespaces might select is given the benefit of the doubt.
    """
    selectors: dict[str, list[dict[str, str]]] = defaultdict(list)
    for policy in snap.request_authentications:
        if not (policy.spec.target_ref or policy.spec.target_refs):
            selector = policy.spec.selector
            selectors[policy.namespace].append(
                dict(selector.match_labels or {}) if selector is not None else {}
            )
    doubtful = {b.namespace for b in snap.broken if b.kind == "RequestAuthentication"}
    unprotected: dict[tuple[str, str], int] = {}
    for vs in snap.virtual_services_to_check():
        claim = _claim_match(vs)
        if claim is None:
            continue
        key, path = claim
        for reference in bound_gateways(vs):
            if reference == "mesh":
                continue
            gw_namespace, gw_name, _ = gateway_reference(reference, vs.namespace)
            gateway = snap.gateways.get((gw_namespace, gw_name))
            if gateway is None or not gateway.spec.selector:
                continue
            if (gw_namespace, gw_name) not in unprotected:
                unprotected[(gw_namespace, gw_name)] = _unprotected_pods(
                    snap, dict(gateway.spec.selector), selectors, doubtful
                )
            count = unprotected[(gw_namespace, gw_name)]
            if count:
                yield Finding.of(
                    "jwt-claim-route-without-request-authn",
                    f"routing on the JWT claim {key!r} through gateway {gw_namespace}/{gw_name}, "
                    f"but no RequestAuthentication selects {count} of its workloads: "
                    "without one no claim is extracted, so the match never holds there",
                    **vs.where(path),
                )


def _unprotected_pods(
    snap: Snapshot,
    gateway_labels: dict[str, str],
    selectors: dict[str, list[dict[str, str]]],
    doubtful: set[str],
) -> int:
    """How many pods of a gateway (in any namespace) no RequestAuthentication selects."""
    root = snap.mesh.root_namespace
    if root in doubtful:
        return 0
    count = 0
    for namespace in sorted(snap.namespaces - doubtful):
        candidates = [*selectors.get(root, ()), *selectors.get(namespace, ())]
        count += sum(
            1
            for pod in snap.workloads.select(namespace, gateway_labels)
            if not any(labels_match(sel, pod) for sel in candidates)
        )
    return count


def _claim_match(vs: Resource[VirtualServiceSpec]) -> tuple[str, str] | None:
    """The first header match on a JWT claim, and its path (istio's ToRoutingClaim)."""
    for r_index, route in enumerate(vs.spec.http or ()):
        for m_index, match in enumerate(route.match or ()):
            for name, headers in (
                ("headers", match.headers),
                ("withoutHeaders", match.without_headers),
            ):
                for key in headers or {}:
                    if _is_claim(key):
                        parts: list[PathPart] = ["spec", "http", r_index, "match", m_index]
                        return key, format_path([*parts, name, key])
    return None


def _is_claim(header: str) -> bool:
    if not header.lower().startswith(JWT_CLAIM_HEADER):
        return False
    rest = header[len(JWT_CLAIM_HEADER) :]
    if rest.startswith("."):
        return len(rest) > 1
    return rest.startswith("[") and rest.endswith("]") and len(rest) > 2
