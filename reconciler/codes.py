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
    milder: Severity | None = None
    """The severity of its milder form, where the summary says when that applies."""

    def severities(self) -> frozenset[Severity]:
        return frozenset({self.severity, *([self.milder] if self.milder else [])})


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
            milder=_I,
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
            "A VirtualService is bound to a Gateway (Istio's or the Gateway API's) that does not "
            "exist.",
            "IST0101",
            kiali_code="KIA1102",
        ),
        Code(
            "gateway-host-mismatch",
            _E,
            "A bound Gateway admits none of a VirtualService's hosts, or a host is admitted by "
            "none of the Gateways it is bound to.",
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
            "Two mesh VirtualServices declare overlapping hosts (istiod's choice is undefined); "
            "a warning when two VirtualServices merged for one host on a gateway each have a "
            "catch-all rule.",
            "IST0109",
            milder=_W,
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
            "sidecar-selector-matches-nothing",
            _W,
            "A Sidecar's workloadSelector matches no workload of its namespace.",
            "IST0101",
        ),
        Code(
            "conflicting-sidecar-selectors",
            _E,
            "Several Sidecars select the same workload: which one applies is undefined.",
            "IST0110",
        ),
        Code(
            "multiple-default-sidecars",
            _E,
            "Several Sidecars without workloadSelector in one namespace: which one applies is "
            "undefined.",
            "IST0111",
        ),
        Code(
            "ineffective-policy",
            _W,
            "A Sidecar that no proxy reads: its namespace or workloads run in ambient mode.",
            "IST0167",
        ),
        Code(
            "sidecar-egress-host-not-found",
            _W,
            "A Sidecar egress host imports no Service, ServiceEntry or VirtualService.",
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
            "conflicting-serviceentry-protocol",
            _W,
            "ServiceEntries seen by the same namespace define one host and port with different "
            "protocols.",
            "IST0177",
        ),
        Code(
            "conflicting-gateways",
            _E,
            "Gateways on the same workloads declare the same host on the same port (and bind).",
            "IST0145",
        ),
        Code(
            "gateway-port-not-on-service",
            _W,
            "A Gateway server port is not a port (or targetPort) of the Service of its pods.",
            "IST0162",
        ),
        Code(
            "gateway-duplicate-certificate",
            _W,
            "Gateways on the same workloads serve the same certificate: HTTP/2 clients reusing "
            "a connection across their hosts may get 404s.",
            "IST0138",
        ),
        Code(
            "gateway-credential-not-found",
            _E,
            "A Gateway's credentialName names no Secret in the namespace of its pods.",
            "IST0101",
        ),
        Code(
            "invalid-gateway-credential",
            _E,
            "A Gateway's credential Secret lacks the keys istiod reads (tls.crt/tls.key or "
            "cert/key, a CA for MUTUAL) or its certificate is not an X.509 PEM certificate.",
            "IST0161",
        ),
        Code(
            "internal-gateway-reference",
            _W,
            "A VirtualService binds to a Gateway istiod generates for a Gateway API Gateway.",
            "IST0165",
        ),
        Code(
            "subset-without-labels",
            _W,
            "A subset has no labels, so it selects every endpoint of its host.",
            kiali_code="KIA0209",
        ),
        Code(
            "policy-selects-nothing",
            _W,
            "An AuthorizationPolicy, PeerAuthentication or RequestAuthentication selects no "
            "workload in the files (judged in namespaces whose workloads the files declare).",
            "IST0127",
            kiali_code="KIA0004",
        ),
        Code(
            "authz-namespace-not-found",
            _W,
            "An AuthorizationPolicy source names a namespace that does not exist (judged when "
            "the files declare Namespace objects).",
            "IST0101",
            kiali_code="KIA0101",
        ),
        Code(
            "mtls-disabled-for-strict-workload",
            _E,
            "A DestinationRule sends plaintext (tls.mode DISABLE) to workloads a "
            "PeerAuthentication makes STRICT: every request fails.",
            kiali_code="KIA0207",
        ),
        Code(
            "jwt-claim-route-without-request-authn",
            _E,
            "A VirtualService routes on JWT claims through a gateway whose pods no "
            "RequestAuthentication selects: the claims are never there.",
            "IST0149",
        ),
        Code("deprecated", _W, "A field or form that Istio deprecated.", "IST0002"),
        Code(
            "unknown-annotation",
            _W,
            "An annotation in Istio's namespace (*istio.io/) that Istio does not know: "
            "misspelt, or a label.",
            "IST0108",
        ),
        Code(
            "misplaced-annotation",
            _W,
            "An Istio annotation on a kind of object it has no effect on (e.g. on a "
            "Deployment instead of its pod template).",
            "IST0107",
        ),
        Code(
            "invalid-annotation",
            _W,
            "An Istio annotation whose value the sidecar injector refuses.",
            "IST0125",
        ),
        Code(
            "deprecated-annotation",
            _I,
            "An Istio annotation that Istio deprecated.",
            "IST0135",
        ),
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
        Code(
            "port-name-convention",
            _I,
            "A Service port names no protocol Istio knows (<protocol>[-<suffix>] or "
            "appProtocol): Istio sniffs its protocol.",
            "IST0118",
        ),
        Code(
            "externalname-port-name",
            _W,
            "A port of an ExternalName Service is named tcp or names no protocol: the sidecar "
            "may not forward its traffic correctly.",
            "IST0150",
        ),
        Code(
            "deployment-multiple-services",
            _W,
            "Services selecting one workload's pods use the same port with different protocols.",
            "IST0116",
        ),
        Code(
            "deployment-conflicting-ports",
            _W,
            "Services selecting one workload's pods send different ports to the same targetPort.",
            "IST0137",
        ),
        Code(
            "invalid-application-uid",
            _W,
            "A pod or application container runs as UID 1337, the sidecar proxy's: its "
            "traffic bypasses the proxy.",
            "IST0144",
        ),
        Code(
            "jwks-fetch-unrestricted",
            _W,
            "RequestAuthentications exist while istiod's Deployment does not set "
            "BLOCKED_CIDRS_IN_JWKS_URIS: JWKS are fetched from any address.",
            "IST0175",
        ),
        Code(
            "ingress-route-rules-not-affected",
            _W,
            "A gateway's VirtualService routes to a host without a subset while a mesh "
            "VirtualService splits that host by subset: the split does not apply to the "
            "gateway's traffic.",
            "IST0140",
        ),
    )
}


PYTHON_CODES = frozenset(c.name for c in CODES.values() if c.checked_by == "python")
