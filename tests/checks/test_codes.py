"""One scenario per finding code: the mesh with one mistake produces exactly that finding, at
the offending field's line, and the minimally fixed mesh produces nothing at all.

Every code of the catalogue must have a case here (``test_every_code_has_a_case``), so a new
code cannot ship without a test that fails when its check is removed or over-fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.codes import CODES, PYTHON_CODES

from . import annotation_cases as ann
from . import gateway_fixtures as gw
from . import security_fixtures as sec
from . import workload_fixtures as wl
from .mesh import (
    BASE,
    EXTERNAL,
    FRONTEND,
    check_tree,
    codes,
    line_of,
    replace_once,
)


def replace_last(text: str, old: str, new: str) -> str:
    head, sep, tail = text.rpartition(old)
    assert sep, f"{old!r} does not occur in the fixture"
    return head + new + tail


@dataclass(frozen=True)
class Case:
    """A mistake (``bad``), its minimal fix (``good``) and where the finding must point."""

    id: str
    code: str
    bad: str
    good: str
    kind: str
    name: str
    field: str
    needle: str
    occurrence: int = 1
    namespace: str = "shop"
    path: str = "case.yaml"
    also: tuple[str, ...] = ()
    """Other resources the same finding is reported on (every member of a conflict)."""


def vs(name: str, spec: str) -> str:
    """A VirtualService in namespace ``shop`` whose spec is ``spec`` (indented by two)."""
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  namespace: shop\n"
        "spec:\n" + spec
    )


def dr(name: str, spec: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: DestinationRule\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  namespace: shop\n"
        "spec:\n" + spec
    )


ROUTE_V9 = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - route:
        - destination:
            host: reviews
            subset: v9
""",
)

SPLIT = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - route:
        - destination:
            host: reviews
            subset: v1
          weight: 90
        - destination:
            host: reviews
            subset: v2
          weight: 20
""",
)

ZERO = SPLIT.replace("weight: 90", "weight: 0").replace("weight: 20", "weight: 0")

SINGLE = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - route:
        - destination:
            host: reviews
            subset: v1
          weight: 50
""",
)

TWICE = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - route:
        - destination:
            host: reviews
            subset: v1
          weight: 50
        - destination:
            host: reviews
            subset: v1
          weight: 50
""",
)

RATINGS_NO_PORT = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - route:
        - destination:
            host: ratings
""",
)

REVIEWS_PORT = vs(
    "mobile",
    """\
  hosts:
    - mobile
  tcp:
    - route:
        - destination:
            host: reviews.shop.svc.cluster.local
            port:
              number: 9081
""",
)

CANARY = vs(
    "reviews-canary",
    """\
  hosts:
    - reviews
  http:
    - route:
        - destination:
            host: reviews
            subset: v2
""",
)

CATCH_ALL_FIRST = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - name: everything
      route:
        - destination:
            host: reviews
    - name: legacy
      match:
        - uri:
            prefix: /legacy
      route:
        - destination:
            host: productpage
""",
)

CATCH_ALL_LAST = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - name: legacy
      match:
        - uri:
            prefix: /legacy
      route:
        - destination:
            host: productpage
    - name: everything
      route:
        - destination:
            host: reviews
""",
)

REPEATED_MATCH = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - match:
        - headers:
            x-team:
              exact: blue
      route:
        - destination:
            host: reviews
    - match:
        - uri:
            exact: /health
        - headers:
            x-team:
              exact: blue
      route:
        - destination:
            host: productpage
    - route:
        - destination:
            host: productpage
""",
)

DELAY_PERCENT = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - fault:
        delay:
          fixedDelay: 1s
          percent: 5
      route:
        - destination:
            host: reviews
""",
)

UNKNOWN_FIELD = vs(
    "mobile",
    """\
  hosts:
    - mobile
  http:
    - rout:
        - destination:
            host: reviews
""",
)

PRODUCTPAGE_SUBSETS = dr(
    "productpage",
    """\
  host: productpage
  subsets:
    - name: v1
      labels:
        app: productpage
    - name: v1
      labels:
        app: productpage
""",
)

PRODUCTPAGE_VERSION = dr(
    "productpage",
    """\
  host: productpage
  subsets:
    - name: v1
      labels:
        version: v1
""",
)

PRODUCTPAGE_NO_LABELS = dr(
    "productpage",
    """\
  host: productpage
  subsets:
    - name: all
""",
)

MISSPELT_HOST = dr(
    "details",
    """\
  host: detail
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 10
""",
)

EGRESS_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: egress
  namespace: istio-system
spec:
  selector:
    istio: egressgateway
  servers:
    - port:
        number: 443
        name: tls
        protocol: TLS
      hosts:
        - "*/api.example.org"
      tls:
        mode: PASSTHROUGH
"""

DATABASE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: database
  namespace: shop
spec:
  hosts:
    - db.example.org
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
    - number: 5432
      name: postgres
      protocol: TCP
"""

CLEAN_ROUTE = SINGLE.replace("          weight: 50\n", "")


def sidecar(name: str, spec: str, ignore: str = "") -> str:
    """A Sidecar in namespace ``shop``; ``ignore`` suppresses a code on it, so that of a pair
    of Sidecars (both reported, as istioctl does) only the first one's finding remains."""
    annotations = f"  annotations:\n    meshrc.io/ignore: {ignore}\n" if ignore else ""
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: Sidecar\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  namespace: shop\n" + annotations + "spec:\n" + spec
    )


SIDECAR_REVIEWS = sidecar(
    "reviews-egress",
    """\
  workloadSelector:
    labels:
      app: reviews
  egress:
    - hosts:
        - ./*
""",
)
SIDECAR_V1 = sidecar(
    "v1-egress",
    """\
  workloadSelector:
    labels:
      version: v1
  egress:
    - hosts:
        - ./*
""",
    ignore="conflicting-sidecar-selectors",
)
SIDECAR_DEFAULT = sidecar("default", "  egress:\n    - hosts:\n        - ./*\n")
SIDECAR_SECOND_DEFAULT = sidecar(
    "second", "  egress:\n    - hosts:\n        - '*/*'\n", ignore="multiple-default-sidecars"
)
SHOP_AMBIENT = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio.io/dataplane-mode: ambient
---
"""
AMBIENT_SHOP = SHOP_AMBIENT + SIDECAR_DEFAULT
RATINGS_SELECTOR = "spec:\n  workloadSelector:\n    labels:\n      app: ratings\n"

CASES = [
    Case(
        "misspelt-kind",
        "unknown-kind",
        CLEAN_ROUTE.replace("kind: VirtualService", "kind: VirtualServce"),
        CLEAN_ROUTE,
        "VirtualServce",
        "mobile",
        "kind",
        "kind: VirtualServce",
    ),
    Case(
        "declared-twice",
        "duplicate-resource",
        CLEAN_ROUTE + "---\n" + CLEAN_ROUTE,
        CLEAN_ROUTE + "---\n" + CLEAN_ROUTE.replace("mobile", "tablet"),
        "VirtualService",
        "mobile",
        "metadata.name",
        "name: mobile",
        occurrence=2,
    ),
    Case(
        "unknown-field",
        "schema",
        UNKNOWN_FIELD,
        UNKNOWN_FIELD.replace("rout:", "route:"),
        "VirtualService",
        "mobile",
        "spec.http[0].rout",
        "- rout:",
    ),
    Case(
        "unclosed-flow-mapping",
        "invalid-yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  labels: {app: x: y}\n",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  labels: {app: x}\n",
        "",
        "",
        "",
        "labels:",
    ),
    Case(
        "subset-v9",
        "subset-not-found",
        ROUTE_V9,
        ROUTE_V9.replace("v9", "v2"),
        "VirtualService",
        "mobile",
        "spec.http[0].route[0].destination.subset",
        "subset: v9",
    ),
    Case(
        "90-plus-20",
        "weights-not-100",
        SPLIT,
        SPLIT.replace("weight: 20", "weight: 10"),
        "VirtualService",
        "mobile",
        "spec.http[0].route",
        "- route:",
    ),
    Case(
        "all-zero",
        "weights-zero",
        ZERO,
        SPLIT.replace("weight: 90", "weight: 80"),
        "VirtualService",
        "mobile",
        "spec.http[0].route",
        "- route:",
    ),
    Case(
        "typo-in-gateway",
        "gateway-not-found",
        replace_once(FRONTEND, "istio-system/shop-gateway", "istio-system/shop-gatway"),
        FRONTEND,
        "VirtualService",
        "frontend",
        "spec.gateways[0]",
        "- istio-system/shop-gatway",
        path="shop/frontend.yaml",
    ),
    Case(
        "host-not-on-server",
        "gateway-host-mismatch",
        replace_once(
            FRONTEND,
            "    - shop.example.com\n",
            "    - shop.example.com\n    - admin.example.com\n",
        ),
        FRONTEND,
        "VirtualService",
        "frontend",
        "spec.hosts[1]",
        "- admin.example.com",
        path="shop/frontend.yaml",
    ),
    Case(
        "typo-in-host",
        "host-not-found",
        ROUTE_V9.replace("            subset: v9\n", "").replace("host: reviews", "host: reveiws"),
        ROUTE_V9.replace("            subset: v9\n", ""),
        "VirtualService",
        "mobile",
        "spec.http[0].route[0].destination.host",
        "host: reveiws",
    ),
    Case(
        "target-port-instead-of-port",
        "port-not-found",
        REVIEWS_PORT,
        REVIEWS_PORT.replace("9081", "9080"),
        "VirtualService",
        "mobile",
        "spec.tcp[0].route[0].destination.port.number",
        "number: 9081",
    ),
    Case(
        "multi-port-service",
        "port-required",
        RATINGS_NO_PORT,
        RATINGS_NO_PORT.replace(
            "host: ratings\n", "host: ratings\n            port:\n              number: 9090\n"
        ),
        "VirtualService",
        "mobile",
        "spec.http[0].route[0].destination",
        "- destination:",
    ),
    Case(
        "second-mesh-vs",
        "conflicting-hosts",
        CANARY,
        CANARY.replace("    - reviews\n  http", "    - reviews-canary\n  http"),
        "VirtualService",
        "reviews-canary",
        "spec.hosts[0]",
        "- reviews",
        also=("reviews",),
    ),
    Case(
        "subset-twice",
        "duplicate-subset",
        PRODUCTPAGE_SUBSETS,
        replace_last(PRODUCTPAGE_SUBSETS, "name: v1", "name: v2"),
        "DestinationRule",
        "productpage",
        "spec.subsets[1].name",
        "- name: v1",
        occurrence=2,
    ),
    Case(
        "rule-after-catch-all",
        "unreachable-rule",
        CATCH_ALL_FIRST,
        CATCH_ALL_LAST,
        "VirtualService",
        "mobile",
        "spec.http[1]",
        "- name: legacy",
    ),
    Case(
        "label-no-pod-has",
        "subset-selects-nothing",
        PRODUCTPAGE_VERSION,
        PRODUCTPAGE_VERSION.replace("version: v1", "app: productpage"),
        "DestinationRule",
        "productpage",
        "spec.subsets[0].labels",
        "labels:",
    ),
    Case(
        "no-egress-pods",
        "gateway-selector-matches-nothing",
        EGRESS_GATEWAY,
        EGRESS_GATEWAY.replace("egressgateway", "ingressgateway"),
        "Gateway",
        "egress",
        "spec.selector",
        "selector:",
        namespace="istio-system",
    ),
    Case(
        "typo-in-rule-host",
        "dr-host-not-found",
        MISSPELT_HOST,
        MISSPELT_HOST.replace("host: detail", "host: productpage"),
        "DestinationRule",
        "details",
        "spec.host",
        "host: detail",
    ),
    Case(
        "weight-50-alone",
        "single-destination-weight",
        SINGLE,
        SINGLE.replace("weight: 50", "weight: 100"),
        "VirtualService",
        "mobile",
        "spec.http[0].route[0].weight",
        "weight: 50",
    ),
    Case(
        "v1-twice",
        "duplicate-route-destination",
        TWICE,
        replace_last(TWICE, "subset: v1", "subset: v2"),
        "VirtualService",
        "mobile",
        "spec.http[0].route[1].destination",
        "- destination:",
        occurrence=2,
    ),
    Case(
        "simple-without-ca",
        "no-tls-verification",
        replace_once(EXTERNAL, "      caCertificates: /etc/ssl/certs/ca-certificates.crt\n", ""),
        EXTERNAL,
        "DestinationRule",
        "external-api",
        "spec.trafficPolicy.tls",
        "tls:",
        path="shop/external.yaml",
    ),
    Case(
        "tcp-without-addresses",
        "serviceentry-addresses-required",
        DATABASE,
        DATABASE.replace("  ports:\n", "  addresses:\n    - 192.0.2.10\n  ports:\n"),
        "ServiceEntry",
        "database",
        "spec.ports[0]",
        "- number: 5432",
    ),
    Case(
        "subset-without-labels",
        "subset-without-labels",
        PRODUCTPAGE_NO_LABELS,
        PRODUCTPAGE_NO_LABELS + "      labels:\n        app: productpage\n",
        "DestinationRule",
        "productpage",
        "spec.subsets[0]",
        "- name: all",
    ),
    Case(
        "delay-percent",
        "deprecated",
        DELAY_PERCENT,
        DELAY_PERCENT.replace("percent: 5", "percentage:\n            value: 5"),
        "VirtualService",
        "mobile",
        "spec.http[0].fault.delay.percent",
        "percent: 5",
    ),
    Case(
        "repeated-header-match",
        "ineffective-match",
        REPEATED_MATCH,
        replace_last(REPEATED_MATCH, "exact: blue", "exact: green"),
        "VirtualService",
        "mobile",
        "spec.http[1].match[1]",
        "- headers:",
        occurrence=2,
    ),
    Case(
        "sidecar-selector-typo",
        "sidecar-selector-matches-nothing",
        SIDECAR_REVIEWS.replace("app: reviews", "app: reveiws"),
        SIDECAR_REVIEWS,
        "Sidecar",
        "reviews-egress",
        "spec.workloadSelector.labels",
        "labels:",
    ),
    Case(
        "two-sidecars-one-workload",
        "conflicting-sidecar-selectors",
        SIDECAR_REVIEWS + "---\n" + SIDECAR_V1,
        SIDECAR_REVIEWS + "---\n" + SIDECAR_V1.replace("version: v1", "app: ratings"),
        "Sidecar",
        "reviews-egress",
        "metadata.name",
        "name: reviews-egress",
    ),
    Case(
        "two-namespace-defaults",
        "multiple-default-sidecars",
        SIDECAR_DEFAULT + "---\n" + SIDECAR_SECOND_DEFAULT,
        SIDECAR_DEFAULT + "---\n" + SIDECAR_SECOND_DEFAULT.replace("spec:\n", RATINGS_SELECTOR),
        "Sidecar",
        "default",
        "metadata.name",
        "name: default",
    ),
    Case(
        "sidecar-in-ambient-namespace",
        "ineffective-policy",
        AMBIENT_SHOP,
        AMBIENT_SHOP.replace("istio.io/dataplane-mode: ambient", "istio-injection: enabled"),
        "Sidecar",
        "default",
        "metadata.name",
        "name: default",
    ),
    Case(
        "short-egress-host",
        "sidecar-egress-host-not-found",
        SIDECAR_DEFAULT.replace("./*", "./reviews"),
        SIDECAR_DEFAULT.replace("./*", "./reviews.shop.svc.cluster.local"),
        "Sidecar",
        "default",
        "spec.egress[0].hosts[0]",
        "- ./reviews",
    ),
    Case(
        "serviceentry-tls-and-https",
        "conflicting-serviceentry-protocol",
        gw.service_entry("external-api-tls", "TLS"),
        gw.service_entry("external-api-tls", "HTTPS"),
        "ServiceEntry",
        "external-api-tls",
        "spec.ports[0].protocol",
        "protocol: TLS",
        also=("external-api",),
    ),
    Case(
        "second-gateway-same-host",
        "conflicting-gateways",
        gw.https_gateway("shop-tls", "shop-cert", port=80),
        gw.https_gateway("shop-tls", "shop-cert", port=8443),
        "Gateway",
        "shop-tls",
        "spec.servers[0].hosts[0]",
        '- "shop/shop.example.com"',
        namespace="istio-system",
        also=("shop-gateway",),
    ),
    Case(
        "service-without-server-port",
        "gateway-port-not-on-service",
        gw.with_service("    - {name: https, port: 443}\n"),
        gw.with_service("    - {name: http2, port: 8080, targetPort: 80}\n"),
        "Gateway",
        "shop-gateway",
        "spec.servers[0].port.number",
        "number: 80",
        namespace="istio-system",
        path="istio-system/gateway.yaml",
    ),
    Case(
        "same-certificate-twice",
        "gateway-duplicate-certificate",
        gw.https_gateway("shop-tls", "shop-cert")
        + "---\n"
        + gw.https_gateway("admin-tls", "shop-cert", host="shop/admin.example.com"),
        gw.https_gateway("shop-tls", "shop-cert")
        + "---\n"
        + gw.https_gateway("admin-tls", "admin-cert", host="shop/admin.example.com"),
        "Gateway",
        "shop-tls",
        "spec.servers[0].tls.credentialName",
        "credentialName: shop-cert",
        namespace="istio-system",
        also=("admin-tls",),
    ),
    Case(
        "credential-name-typo",
        "gateway-credential-not-found",
        gw.tls_secret("shop-cert") + "---\n" + gw.https_gateway("shop-tls", "shop-crt"),
        gw.tls_secret("shop-cert") + "---\n" + gw.https_gateway("shop-tls", "shop-cert"),
        "Gateway",
        "shop-tls",
        "spec.servers[0].tls.credentialName",
        "credentialName: shop-crt",
        namespace="istio-system",
    ),
    Case(
        "credential-key-misspelt",
        "invalid-gateway-credential",
        gw.secret("shop-cert", {"tls.cert": gw.CERTIFICATE, "tls.key": gw.PLACEHOLDER_KEY})
        + "---\n"
        + gw.https_gateway("shop-tls", "shop-cert"),
        gw.secret("shop-cert", {"tls.crt": gw.CERTIFICATE, "tls.key": gw.PLACEHOLDER_KEY})
        + "---\n"
        + gw.https_gateway("shop-tls", "shop-cert"),
        "Gateway",
        "shop-tls",
        "spec.servers[0].tls.credentialName",
        "credentialName: shop-cert",
        namespace="istio-system",
    ),
    Case(
        "bound-to-generated-gateway",
        "internal-gateway-reference",
        gw.INTERNAL_REFERENCE,
        gw.INTERNAL_REFERENCE.replace(
            "istio-system/public~istio-autogenerated-k8s-gateway~http", "mesh"
        ),
        "VirtualService",
        "mobile",
        "spec.gateways[0]",
        "~istio-autogenerated-k8s-gateway~",
    ),
    Case(
        "authz-selector-typo",
        "policy-selects-nothing",
        sec.policy(
            "AuthorizationPolicy", "ratings", "shop", sec.RATINGS_SELECTOR.replace("ngs", "nsg")
        ),
        sec.policy("AuthorizationPolicy", "ratings", "shop", sec.RATINGS_SELECTOR),
        "AuthorizationPolicy",
        "ratings",
        "spec.selector",
        "selector:",
    ),
    Case(
        "source-namespace-typo",
        "authz-namespace-not-found",
        sec.NAMESPACE_SHOP + "---\n" + sec.from_namespaces("shpo"),
        sec.NAMESPACE_SHOP + "---\n" + sec.from_namespaces("shop"),
        "AuthorizationPolicy",
        "from",
        "spec.rules[0].from[0].source.namespaces[0]",
        "- 'shpo'",
    ),
    Case(
        "disable-under-strict",
        "mtls-disabled-for-strict-workload",
        sec.SHOP_STRICT + "---\n" + sec.RATINGS_DISABLE,
        sec.SHOP_STRICT + "---\n" + sec.RATINGS_DISABLE.replace("DISABLE", "ISTIO_MUTUAL"),
        "DestinationRule",
        "ratings",
        "spec.trafficPolicy.tls",
        "    tls:",
    ),
    Case(
        "claim-route-without-jwt",
        "jwt-claim-route-without-request-authn",
        sec.CLAIM_ROUTE,
        sec.CLAIM_ROUTE + "---\n" + sec.GATEWAY_JWT,
        "VirtualService",
        "frontend",
        'spec.http[0].match[0].headers["@request.auth.claims.groups"]',
        "@request.auth.claims.groups",
        path="shop/frontend.yaml",
    ),
    Case(
        "misspelt-proxy-config",
        "unknown-annotation",
        ann.UNKNOWN,
        ann.UNKNOWN_FIXED,
        "Deployment",
        "cart",
        'spec.template.metadata.annotations["proxy.istio.io/confg"]',
        "proxy.istio.io/confg",
    ),
    Case(
        "export-to-on-deployment",
        "misplaced-annotation",
        ann.MISPLACED,
        ann.MISPLACED_FIXED,
        "Deployment",
        "cart",
        'metadata.annotations["networking.istio.io/exportTo"]',
        "networking.istio.io/exportTo",
    ),
    Case(
        "space-in-ip-ranges",
        "invalid-annotation",
        ann.INVALID,
        ann.INVALID_FIXED,
        "Deployment",
        "cart",
        'spec.template.metadata.annotations["traffic.sidecar.istio.io/excludeOutboundIPRanges"]',
        "excludeOutboundIPRanges",
    ),
    Case(
        "inject-annotation",
        "deprecated-annotation",
        ann.DEPRECATED,
        ann.DEPRECATED_FIXED,
        "Deployment",
        "cart",
        'spec.template.metadata.annotations["sidecar.istio.io/inject"]',
        "sidecar.istio.io/inject",
    ),
    Case(
        "postgres-port-name",
        "port-name-convention",
        wl.POSTGRES,
        wl.POSTGRES_FIXED,
        "Service",
        "ledger-db",
        "spec.ports[0].name",
        "name: postgres",
        namespace="pay",
    ),
    Case(
        "externalname-tcp-port",
        "externalname-port-name",
        wl.EXTERNAL_DB,
        wl.EXTERNAL_DB_FIXED,
        "Service",
        "payments-api",
        "spec.ports[0].name",
        "name: tcp",
        namespace="pay",
    ),
    Case(
        "port-9000-tcp-and-udp",
        "deployment-multiple-services",
        wl.TWO_PROTOCOLS,
        wl.TWO_PROTOCOLS_FIXED,
        "Deployment",
        "pay",
        "spec.template.metadata.labels",
        "labels:",
        namespace="pay",
    ),
    Case(
        "two-ports-one-target-port",
        "deployment-conflicting-ports",
        wl.TWO_PORTS,
        wl.TWO_PORTS_FIXED,
        "Deployment",
        "pay",
        "spec.template.metadata.labels",
        "labels:",
        namespace="pay",
    ),
    Case(
        "container-runs-as-proxy-uid",
        "invalid-application-uid",
        wl.UID_1337,
        wl.UID_FIXED,
        "Deployment",
        "pay",
        "spec.template.spec.containers[0].securityContext.runAsUser",
        "runAsUser: 1337",
        namespace="pay",
    ),
    Case(
        "istiod-without-blocked-cidrs",
        "jwks-fetch-unrestricted",
        wl.JWKS,
        wl.JWKS_FIXED,
        "Deployment",
        "istiod",
        "spec.template.spec.containers[0].env",
        "env:",
        namespace="istio-system",
    ),
    Case(
        "gateway-route-without-subset",
        "ingress-route-rules-not-affected",
        replace_once(FRONTEND, "            subset: v1\n", ""),
        FRONTEND,
        "VirtualService",
        "frontend",
        "spec.http[0].route[0].destination.host",
        "host: reviews",
        path="shop/frontend.yaml",
    ),
]


def test_base_mesh_is_clean(tmp_path: Path) -> None:
    report = check_tree(tmp_path, {})
    assert report.findings == []
    assert report.checked_files == len(BASE)
    assert report.checked_resources == 15  # 10 Istio objects and Services, 5 workloads


def test_every_code_has_a_case() -> None:
    assert {case.code for case in CASES} == PYTHON_CODES


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}:{c.id}" for c in CASES])
def test_mistake_gives_exactly_its_finding(tmp_path: Path, case: Case) -> None:
    report = check_tree(tmp_path, {case.path: case.bad})
    assert codes(report) == [case.code] * (1 + len(case.also))
    assert sorted(f.name or "" for f in report.findings) == sorted([case.name, *case.also])
    [finding] = [f for f in report.findings if (f.name or "") == case.name]
    assert finding.severity == CODES[case.code].severity
    assert finding.istio_code == CODES[case.code].istio_code
    assert finding.file == case.path
    assert finding.line == line_of(case.bad, case.needle, case.occurrence)
    if case.kind:
        where = (finding.kind, finding.namespace, finding.name, finding.field)
        assert where == (case.kind, case.namespace, case.name, case.field)
    else:  # a file that is not YAML names no object
        assert (finding.kind, finding.namespace, finding.name, finding.field) == (None,) * 4


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}:{c.id}" for c in CASES])
def test_minimal_fix_is_clean(tmp_path: Path, case: Case) -> None:
    assert case.good != case.bad
    report = check_tree(tmp_path, {case.path: case.good})
    assert report.findings == []
