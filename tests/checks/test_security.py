"""The security checks on the shared clean mesh (``BASE``): policies that select nothing,
AuthorizationPolicy sources in namespaces that do not exist, plaintext sent to STRICT mTLS
workloads, and routes on JWT claims without a RequestAuthentication; and the configurations
that look alike but work, which must stay silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.findings import Report

from .mesh import RATINGS, REVIEWS, check_tree, codes, line_of, only
from .security_fixtures import (
    CLAIM_ROUTE,
    GATEWAY_JWT,
    MESH_STRICT,
    NAMESPACE_SHOP,
    RATINGS_DISABLE,
    RATINGS_PORT_DISABLE,
    RATINGS_SELECTOR,
    SHOP_PERMISSIVE,
    SHOP_STRICT,
    STRICT,
    from_namespaces,
    peer,
    policy,
)


def run(tmp_path: Path, **files: str) -> Report:
    return check_tree(tmp_path, {f"case/{name}.yaml": text for name, text in files.items()})


# --- policies that select nothing ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["AuthorizationPolicy", "PeerAuthentication"])
def test_selector_matching_no_workload_of_its_namespace(tmp_path: Path, kind: str) -> None:
    spec = "  selector:\n    matchLabels:\n      app: reveiws\n"
    text = policy(kind, "reviews", "shop", spec)
    report = run(tmp_path, p=text)
    finding = only(report, "policy-selects-nothing")
    assert (finding.kind, finding.field, finding.istio_code) == (kind, "spec.selector", "IST0127")
    assert finding.line == line_of(text, "selector:")
    assert codes(report) == ["policy-selects-nothing"]


def test_selector_of_another_namespaces_workloads_matches_nothing(tmp_path: Path) -> None:
    """Outside the root namespace a selector only sees its own namespace: the gateway pods of
    istio-system are not workloads of shop."""
    spec = "  selector:\n    matchLabels:\n      istio: ingressgateway\n  jwtRules:\n"
    spec += "    - issuer: https://issuer.example.com\n"
    report = run(tmp_path, p=policy("RequestAuthentication", "jwt", "shop", spec))
    assert codes(report) == ["policy-selects-nothing"]


def test_root_namespace_selector_matches_workloads_of_every_namespace(tmp_path: Path) -> None:
    spec = "  selector:\n    matchLabels:\n      app: reviews\n  action: DENY\n  rules:\n    - {}\n"
    report = run(tmp_path, p=policy("AuthorizationPolicy", "deny", "istio-system", spec))
    assert report.findings == []
    missing = spec.replace("app: reviews", "app: nothing")
    report = run(tmp_path, p=policy("AuthorizationPolicy", "deny", "istio-system", missing))
    assert "in any namespace" in only(report, "policy-selects-nothing").message


def test_policies_that_cannot_be_judged_by_labels_are_silent(tmp_path: Path) -> None:
    """A namespace-wide policy, a selector in a namespace without workloads in the files, and
    a policy attached by targetRefs to a Gateway API gateway."""
    report = run(
        tmp_path,
        a=policy("AuthorizationPolicy", "allow-nothing", "shop", "  {}\n"),
        b=policy("AuthorizationPolicy", "x", "web", "  selector:\n    matchLabels: {app: x}\n"),
        c=policy(
            "AuthorizationPolicy",
            "gw",
            "shop",
            "  targetRefs:\n    - kind: Gateway\n      group: gateway.networking.k8s.io\n"
            "      name: shop\n",
        ),
    )
    assert report.findings == []


def test_security_kinds_are_checked_not_listed(tmp_path: Path) -> None:
    base = check_tree(tmp_path, {}).checked_resources
    report = run(tmp_path, p=SHOP_PERMISSIVE)
    assert report.not_checked == []
    assert report.checked_resources == base + 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("  action: DENY\n", "without rules never applies"),
        ("  provider:\n    name: ext-authz\n", "provider is only for the CUSTOM action"),
        (
            "  selector:\n    matchLabels: {app: reviews}\n  targetRefs:\n"
            "    - {kind: Gateway, name: shop}\n",
            "only one of targetRefs",
        ),
        ("  rules:\n    - from:\n        - source: {}\n", "source must not be empty"),
    ],
)
def test_policies_the_api_server_or_istiod_refuse_are_schema_errors(
    tmp_path: Path, spec: str, message: str
) -> None:
    report = run(tmp_path, p=policy("AuthorizationPolicy", "bad", "shop", spec))
    assert message in only(report, "schema").message


# --- source namespaces --------------------------------------------------------------------


def test_source_namespace_that_does_not_exist(tmp_path: Path) -> None:
    text = from_namespaces("shop", "shpo")
    report = run(tmp_path, ns=NAMESPACE_SHOP, p=text)
    finding = only(report, "authz-namespace-not-found")
    assert finding.field == "spec.rules[0].from[0].source.namespaces[1]"
    assert finding.line == line_of(text, "'shpo'")
    assert codes(report) == ["authz-namespace-not-found"]


def test_source_namespaces_that_exist(tmp_path: Path) -> None:
    """Declared, holding resources of the files, the root namespace, Kubernetes' own, and
    patterns matching one of them."""
    text = from_namespaces("shop", "istio-system", "kube-system", "default", "sh*", "*-system")
    assert run(tmp_path, ns=NAMESPACE_SHOP, p=text).findings == []


def test_source_namespaces_are_not_judged_without_namespace_objects(tmp_path: Path) -> None:
    assert run(tmp_path, p=from_namespaces("shpo")).findings == []


# --- plaintext to STRICT workloads --------------------------------------------------------


@pytest.mark.parametrize(
    "peers",
    [
        {"mesh": MESH_STRICT},
        {"ns": SHOP_STRICT},
        {"mesh": MESH_STRICT, "ns": peer("default", "shop", "  mtls: {}\n")},
        {"ns": SHOP_PERMISSIVE, "w": peer("ratings", "shop", RATINGS_SELECTOR + STRICT)},
    ],
    ids=["mesh-strict", "namespace-strict", "namespace-unset-inherits", "workload-strict"],
)
def test_disable_toward_strict_workloads(tmp_path: Path, peers: dict[str, str]) -> None:
    report = run(tmp_path, dr=RATINGS_DISABLE, **peers)
    finding = only(report, "mtls-disabled-for-strict-workload")
    assert (finding.kind, finding.name, finding.field) == (
        "DestinationRule",
        "ratings",
        "spec.trafficPolicy.tls",
    )
    assert finding.severity == "error"
    assert finding.kiali_code == "KIA0207"
    assert "ratings.shop.svc.cluster.local port 9080" in finding.message
    assert codes(report) == ["mtls-disabled-for-strict-workload"]


@pytest.mark.parametrize(
    "peers",
    [
        {},
        {"mesh": peer("default", "istio-system", "  mtls:\n    mode: PERMISSIVE\n")},
        {"mesh": MESH_STRICT, "ns": SHOP_PERMISSIVE},
        {"other": peer("default", "web", STRICT)},
    ],
    ids=[
        "no-policy",
        "mesh-permissive",
        "namespace-permissive-overrides-mesh",
        "strict-elsewhere",
    ],
)
def test_disable_toward_workloads_that_accept_plaintext(
    tmp_path: Path, peers: dict[str, str]
) -> None:
    for dr in (RATINGS_DISABLE, RATINGS_PORT_DISABLE):
        assert run(tmp_path, dr=dr, **peers).findings == []


PORT_9080_PERMISSIVE = peer(
    "ratings",
    "shop",
    RATINGS_SELECTOR + "  portLevelMtls:\n    '9080':\n      mode: PERMISSIVE\n",
)


def test_port_level_exception_on_the_disabled_port(tmp_path: Path) -> None:
    """STRICT namespace, PERMISSIVE on 9080: plaintext to 9080 works; to the service's other
    port 9090, which the rule-level DISABLE also covers, it does not."""
    report = run(tmp_path, dr=RATINGS_PORT_DISABLE, ns=SHOP_STRICT, w=PORT_9080_PERMISSIVE)
    assert report.findings == []
    report = run(tmp_path, dr=RATINGS_DISABLE, ns=SHOP_STRICT, w=PORT_9080_PERMISSIVE)
    finding = only(report, "mtls-disabled-for-strict-workload")
    assert "port 9090" in finding.message
    assert "PeerAuthentication shop/default is STRICT" in finding.message


def test_root_namespace_peer_authentication_with_selector_is_ignored(tmp_path: Path) -> None:
    """istiod composes a workload's mode from the mesh, namespace and workload levels; a
    selector in the root namespace is none of them, so plaintext still gets through."""
    ignored = peer("ratings", "istio-system", RATINGS_SELECTOR + STRICT)
    report = run(tmp_path, dr=RATINGS_DISABLE, p=ignored)
    finding = only(report, "policy-selects-nothing")
    assert "istiod ignores" in finding.message
    assert codes(report) == ["policy-selects-nothing"]


def test_port_level_disable_is_reported_at_its_port(tmp_path: Path) -> None:
    report = run(tmp_path, dr=RATINGS_PORT_DISABLE, ns=SHOP_STRICT)
    finding = only(report, "mtls-disabled-for-strict-workload")
    assert finding.field == "spec.trafficPolicy.portLevelSettings[0].tls"
    assert finding.line == line_of(RATINGS_PORT_DISABLE, "tls:")


def test_port_level_exception_maps_service_port_to_target_port(tmp_path: Path) -> None:
    """portLevelMtls names the workload's port: Service port 80 -> targetPort 9080."""
    service, deployment = RATINGS.split("---\n")[:2]  # without the VirtualService to 9080
    service = service.replace("      port: 9080\n", "      port: 80\n      targetPort: 9080\n")
    service = service.replace("    - name: grpc\n      port: 9090\n", "")
    exception = PORT_9080_PERMISSIVE
    files = {"shop/ratings.yaml": f"{service}---\n{deployment}", "case/dr.yaml": RATINGS_DISABLE}
    report = check_tree(tmp_path, {**files, "case/ns.yaml": SHOP_STRICT, "case/w.yaml": exception})
    assert report.findings == []
    report = check_tree(tmp_path, {**files, "case/ns.yaml": SHOP_STRICT, "case/w.yaml": ""})
    assert "port 80" in only(report, "mtls-disabled-for-strict-workload").message


def test_subset_disable_only_for_the_workloads_of_that_subset(tmp_path: Path) -> None:
    subsets = "    - name: v2\n      labels:\n        version: v2\n"
    plaintext = subsets + "      trafficPolicy:\n        tls:\n          mode: DISABLE\n"
    assert REVIEWS.count(subsets) == 1
    files = {
        "shop/reviews.yaml": REVIEWS.replace(subsets, plaintext),
        "case/ns.yaml": SHOP_PERMISSIVE,
    }
    v2_strict = peer("v2", "shop", "  selector:\n    matchLabels:\n      version: v2\n" + STRICT)
    report = check_tree(tmp_path, {**files, "case/w.yaml": v2_strict})
    finding = only(report, "mtls-disabled-for-strict-workload")
    assert finding.field == "spec.subsets[1].trafficPolicy.tls"
    assert "(subset v2)" in finding.message
    v1_strict = v2_strict.replace("version: v2", "version: v1")
    assert check_tree(tmp_path, {**files, "case/w.yaml": v1_strict}).findings == []


def test_wildcard_rule_applies_where_no_more_specific_rule_does(tmp_path: Path) -> None:
    """*.shop disables TLS for ratings and productpage; reviews keeps its own rule."""
    wildcard = RATINGS_DISABLE.replace(
        "ratings.shop.svc.cluster.local", '"*.shop.svc.cluster.local"'
    )
    report = run(tmp_path, dr=wildcard, ns=SHOP_STRICT)
    finding = only(report, "mtls-disabled-for-strict-workload")
    assert "reviews" not in finding.message


# --- routes on JWT claims -----------------------------------------------------------------


def test_claim_route_without_request_authentication(tmp_path: Path) -> None:
    report = check_tree(tmp_path, {"shop/frontend.yaml": CLAIM_ROUTE})
    finding = only(report, "jwt-claim-route-without-request-authn")
    assert finding.field == 'spec.http[0].match[0].headers["@request.auth.claims.groups"]'
    assert finding.line == line_of(CLAIM_ROUTE, "@request.auth.claims.groups")
    assert (finding.istio_code, finding.severity) == ("IST0149", "error")
    assert "istio-system/shop-gateway" in finding.message


@pytest.mark.parametrize(
    "authn",
    [
        GATEWAY_JWT,
        GATEWAY_JWT.replace("  selector:\n    matchLabels:\n      istio: ingressgateway\n", ""),
    ],
    ids=["selects-gateway-pods", "root-namespace-wide"],
)
def test_claim_route_with_request_authentication_on_the_gateway(tmp_path: Path, authn: str) -> None:
    files = {"shop/frontend.yaml": CLAIM_ROUTE, "case/ra.yaml": authn}
    assert check_tree(tmp_path, files).findings == []


def test_request_authentication_of_the_route_namespace_does_not_cover_the_gateway(
    tmp_path: Path,
) -> None:
    """Only the pod's namespace and the root namespace count; shop has no gateway pods (and
    so its selector also matches nothing there)."""
    in_shop = GATEWAY_JWT.replace("namespace: istio-system", "namespace: shop")
    files = {"shop/frontend.yaml": CLAIM_ROUTE, "case/ra.yaml": in_shop}
    report = check_tree(tmp_path, files)
    assert codes(report) == ["policy-selects-nothing", "jwt-claim-route-without-request-authn"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    - istio-system/shop-gateway\n", "    - mesh\n"),
        ('"@request.auth.claims.groups"', "x-groups"),
        ('"@request.auth.claims.groups"', '"@request.auth.claims"'),
    ],
    ids=["mesh-only", "plain-header", "no-claim-name"],
)
def test_routes_that_are_not_claim_routes_through_a_gateway(
    tmp_path: Path, old: str, new: str
) -> None:
    files = {"shop/frontend.yaml": CLAIM_ROUTE.replace(old, new)}
    assert check_tree(tmp_path, files).findings == []


def test_bracket_claims_and_without_headers_are_claim_routes(tmp_path: Path) -> None:
    text = CLAIM_ROUTE.replace("  headers:", "  withoutHeaders:").replace(
        "claims.groups", "claims[groups]"
    )
    report = check_tree(tmp_path, {"shop/frontend.yaml": text})
    finding = only(report, "jwt-claim-route-without-request-authn")
    assert finding.field == 'spec.http[0].match[0].withoutHeaders["@request.auth.claims[groups]"]'
