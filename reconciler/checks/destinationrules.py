"""Checks of DestinationRules: their host, their subsets, and their client TLS settings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from reconciler.findings import Finding
from reconciler.model.destinationrule import DestinationRuleSpec, TrafficPolicy
from reconciler.model.hosts import covers, endpoint_labels_match, fqdn
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Backend, Snapshot

DestinationRule = Resource[DestinationRuleSpec]


def check_destination_rules(snap: Snapshot) -> Iterator[Finding]:
    for rule in snap.destination_rules:
        host = fqdn(rule.spec.host, rule.namespace)
        backends = _backends(snap, host)
        if not backends and "*" not in host and not snap.broken_backend(host):
            yield Finding.of(
                "dr-host-not-found",
                f"host {rule.spec.host} ({host}) is not a Service or ServiceEntry in the files: "
                "this rule applies to nothing",
                **rule.where("spec.host"),
            )
        yield from _subsets(snap, rule, backends)
        yield from _tls(rule)
    yield from _duplicate_subsets_across_rules(snap)


def _backends(snap: Snapshot, host: str) -> list[Backend]:
    if "*" in host:
        return []
    exact = list(snap.backends.get(host, ()))
    return exact or [b for b in snap.wildcard_backends if covers(b.host, host)]


def _subsets(snap: Snapshot, rule: DestinationRule, backends: list[Backend]) -> Iterator[Finding]:
    known = [b for b in backends if b.endpoint_labels is not None]
    endpoints = [labels for b in known for labels in b.endpoint_labels or ()]
    # No endpoint at all counts only where the files declare the namespace's workloads: a
    # repository that keeps its Deployments elsewhere would otherwise fail every subset.
    judged = bool(endpoints) or any(snap.workloads.declares(b.namespace) for b in known)
    seen: set[str] = set()
    for index, subset in enumerate(rule.spec.subsets or ()):
        if subset.name in seen:
            yield Finding.of(
                "duplicate-subset",
                f"subset {subset.name!r} is defined twice in this DestinationRule",
                **rule.where(f"spec.subsets[{index}].name"),
            )
        seen.add(subset.name)
        if not subset.labels:
            yield Finding.of(
                "subset-without-labels",
                f"subset {subset.name!r} has no labels, so it selects every endpoint of "
                f"{rule.spec.host}",
                **rule.where(f"spec.subsets[{index}]"),
            )
        elif judged and not any(endpoint_labels_match(subset.labels, e) for e in endpoints):
            shown = ", ".join(f"{k}={v}" for k, v in sorted(subset.labels.items()))
            yield Finding.of(
                "subset-selects-nothing",
                f"subset {subset.name!r} ({shown}) selects none of the {len(endpoints)} "
                f"workloads of {rule.spec.host}: traffic routed to it fails with 503",
                **rule.where(f"spec.subsets[{index}].labels"),
            )


def _duplicate_subsets_across_rules(snap: Snapshot) -> Iterator[Finding]:
    """Rules for one host in one namespace are merged by istiod; a repeated subset is dropped."""
    groups: dict[tuple[str, str], list[DestinationRule]] = defaultdict(list)
    for rule in snap.destination_rules:
        if rule.spec.workload_selector is None:
            groups[(rule.namespace, fqdn(rule.spec.host, rule.namespace))].append(rule)
    for (_, host), rules in groups.items():
        if len(rules) < 2:
            continue
        owner: dict[str, DestinationRule] = {}
        for rule in sorted(rules, key=lambda r: r.name):
            for index, subset in enumerate(rule.spec.subsets or ()):
                first = owner.setdefault(subset.name, rule)
                if first is not rule:
                    yield Finding.of(
                        "duplicate-subset",
                        f"subset {subset.name!r} of {host} is also defined by DestinationRule "
                        f"{first.namespace}/{first.name}; istiod ignores this one",
                        **rule.where(f"spec.subsets[{index}].name"),
                    )


def _tls(rule: DestinationRule) -> Iterator[Finding]:
    for path, policy in _policies(rule):
        tls = policy.tls
        if tls is None or tls.mode not in ("SIMPLE", "MUTUAL"):
            continue
        # a credentialName is read only by gateways, so it verifies only for a rule that
        # selects gateway workloads (as istioctl's IST0128/IST0129)
        selects = rule.spec.workload_selector is not None
        if (tls.ca_certificates or (tls.credential_name and selects)) and not (
            tls.insecure_skip_verify
        ):
            continue
        if tls.insecure_skip_verify:
            reason = "insecureSkipVerify is set"
        elif tls.credential_name:
            reason = (
                "credentialName is read only by gateways (this rule has no workloadSelector) "
                "and no caCertificates is set"
            )
        else:
            reason = "neither caCertificates nor credentialName is set"
        yield Finding.of(
            "no-tls-verification",
            f"TLS mode {tls.mode} does not verify the server's certificate: {reason}",
            **rule.where(f"{path}.tls"),
        )


def _policies(rule: DestinationRule) -> Iterator[tuple[str, TrafficPolicy]]:
    """Every traffic policy of the rule (top level, per port, per subset), with its path."""
    tops: list[tuple[str, TrafficPolicy | None]] = [
        ("spec.trafficPolicy", rule.spec.traffic_policy)
    ]
    for index, subset in enumerate(rule.spec.subsets or ()):
        tops.append((f"spec.subsets[{index}].trafficPolicy", subset.traffic_policy))
    for path, policy in tops:
        if policy is None:
            continue
        yield path, policy
        for p_index, port_policy in enumerate(policy.port_level_settings or ()):
            yield f"{path}.portLevelSettings[{p_index}]", port_policy  # type: ignore[misc]
