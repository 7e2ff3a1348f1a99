"""The catalogue of finding codes: default severity, what each means, and Istio's or Kiali's code.

Pure data, shared by the checks (which emit the codes) and the writers (SARIF rules, help).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is; ordered so that ``--fail-on`` can compare."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True)
class Code:
    """One kind of finding."""

    name: str
    severity: Severity
    summary: str
    istio_code: str | None = None
    kiali_code: str | None = None
    checked_by: str = "python"
    """Who produces it: ``python`` (the checks), or ``rego`` (only the policy pack)."""


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

CODES: dict[str, Code] = {
    c.name: c
    for c in (
        Code(
            "invalid-yaml",
            _E,
            "The file is not valid YAML, not UTF-8, too large, or has "
            "duplicate keys or an alias bomb.",
            "IST0106",
        ),
        Code("schema", _E, "A field is unknown or has the wrong type or value.", "IST0106"),
        Code(
            "unknown-kind",
            _E,
            "A kind or apiVersion meshrc does not know: an error in a group it knows every kind "
            "of (networking.istio.io, Gateway API, Kubernetes), info for other CRDs.",
        ),
        Code(
            "duplicate-resource",
            _E,
            "The same object (kind, namespace, name) is declared twice: only one would exist.",
        ),
        Code(
            "subset-not-found",
            _E,
            "A route names a subset that no DestinationRule for its host defines.",
            "IST0101",
            kiali_code="KIA1107",
        ),
        Code("weights-not-100", _E, "The weights of a route's destinations do not sum to 100."),
        Code(
            "weights-zero",
            _E,
            "A route with several destinations has a total weight of 0.",
            "IST0106",
        ),
        Code(
            "gateway-not-found",
            _E,
            "A VirtualService is bound to a Gateway that does not exist.",
            "IST0101",
            kiali_code="KIA1102",
        ),
        Code(
            "gateway-host-mismatch",
            _E,
            "A VirtualService host is bound to a Gateway that no server of that Gateway admits.",
            "IST0132",
        ),
        Code(
            "host-not-found",
            _E,
            "A route destination host is neither a Service nor a ServiceEntry host.",
            "IST0101",
            kiali_code="KIA1101",
        ),
        Code(
            "port-not-found",
            _E,
            "A route destination port is not a port of its service.",
            "IST0101",
        ),
        Code(
            "port-required",
            _E,
            "A route destination has no port but its service has several.",
            "IST0112",
        ),
        Code(
            "conflicting-hosts",
            _E,
            "Two VirtualServices bound to the same gateway (or the mesh) declare the same host.",
            "IST0109",
        ),
        Code(
            "duplicate-subset", _E, "A subset name is defined twice for the same host.", "IST0106"
        ),
        Code(
            "unreachable-rule",
            _W,
            "A route rule can never match: an earlier rule catches all of its traffic.",
            "IST0130",
        ),
        Code(
            "subset-selects-nothing",
            _W,
            "The labels of a subset match no workload of its host.",
            "IST0173",
            kiali_code="KIA0203",
        ),
        Code(
            "gateway-selector-matches-nothing",
            _W,
            "A Gateway's selector matches no workload.",
            "IST0101",
            kiali_code="KIA0302",
        ),
        Code(
            "dr-host-not-found",
            _W,
            "A DestinationRule host is neither a Service nor a ServiceEntry host.",
            "IST0174",
            kiali_code="KIA0202",
        ),
        Code(
            "single-destination-weight",
            _W,
            "A route has one destination with a weight between 1 and 99.",
            kiali_code="KIA1104",
        ),
        Code(
            "duplicate-route-destination",
            _W,
            "The same host and subset appears twice in one route.",
            kiali_code="KIA1105",
        ),
        Code(
            "no-tls-verification",
            _W,
            "TLS to the upstream is SIMPLE or MUTUAL without a CA "
            "certificate: the server is not verified.",
            "IST0128",
        ),
        Code(
            "serviceentry-addresses-required",
            _W,
            "A ServiceEntry with a TCP or unnamed port has no addresses.",
            "IST0134",
        ),
        Code(
            "subset-without-labels",
            _W,
            "A subset has no labels, so it selects every endpoint of its host.",
            kiali_code="KIA0209",
        ),
        Code("deprecated", _W, "A field or form that Istio deprecated.", "IST0002"),
        Code(
            "route-timeout-required",
            _W,
            "An HTTP route sets no timeout (Rego guardrail).",
            checked_by="rego",
        ),
        Code(
            "retries-max",
            _E,
            "A route retries more often than the platform allows (Rego guardrail; "
            "data.meshrc.params.retries_max, default 5).",
            checked_by="rego",
        ),
        Code(
            "no-fault-injection",
            _E,
            "Fault injection in a production namespace (Rego guardrail; "
            "data.meshrc.params.production_namespaces).",
            checked_by="rego",
        ),
        Code(
            "no-wildcard-mesh-host",
            _E,
            "A VirtualService bound to the mesh claims a wildcard host, taking traffic for "
            "hosts it does not own (Rego guardrail).",
            checked_by="rego",
        ),
        Code(
            "dr-tls-disabled",
            _W,
            "A DestinationRule turns TLS off (Rego guardrail).",
            checked_by="rego",
        ),
        Code(
            "ineffective-match",
            _I,
            "A match repeats or is covered by an earlier one in the same VirtualService.",
            "IST0131",
        ),
    )
}


PYTHON_CODES = frozenset(c.name for c in CODES.values() if c.checked_by == "python")
