"""VirtualService <-> Gateway binding: server hosts, selectors, and hosts claimed twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from .mesh import FRONTEND, GATEWAY, check_tree, codes, line_of, only, replace_once


@pytest.mark.parametrize(
    ("server_host", "vs_host", "admitted"),
    [
        ("shop/shop.example.com", "shop.example.com", True),
        ("*/shop.example.com", "shop.example.com", True),
        ("shop.example.com", "shop.example.com", True),
        ("*.example.com", "shop.example.com", True),
        ("shop/*.example.com", "shop.example.com", True),
        ("*/*", "shop.example.com", True),
        ("*", "shop.example.com", True),
        ("shop/shop.example.com", "*.example.com", True),  # a wildcard VS host intersects
        ("web/shop.example.com", "shop.example.com", False),  # another namespace's host
        ("./shop.example.com", "shop.example.com", False),  # "." is the gateway's namespace
        ("shop/www.example.com", "shop.example.com", False),
        ("*.shop.example.com", "shop.example.com", False),  # *.x does not cover x
        ("shop/*.example.org", "shop.example.com", False),
    ],
)
def test_gateway_server_hosts(
    tmp_path: Path, server_host: str, vs_host: str, admitted: bool
) -> None:
    gateway = replace_once(GATEWAY, "- shop/shop.example.com", f'- "{server_host}"')
    frontend = replace_once(FRONTEND, "- shop.example.com", f'- "{vs_host}"')
    files = {"istio-system/gateway.yaml": gateway, "shop/frontend.yaml": frontend}
    report = check_tree(tmp_path, files)
    if admitted:
        assert report.findings == []
        return
    finding = only(report, "gateway-host-mismatch")
    assert codes(report) == ["gateway-host-mismatch"]
    assert (finding.kind, finding.namespace, finding.name) == ("VirtualService", "shop", "frontend")
    # as istioctl's IST0132: on the gateway that admits none of the VirtualService's hosts
    assert finding.field == "spec.gateways[0]"
    assert finding.line == line_of(frontend, "- istio-system/shop-gateway")
    assert f"server hosts: {server_host}" in finding.message


@pytest.mark.parametrize(("gateway_namespace", "admitted"), [("shop", True), ("web", False)])
def test_dot_server_host_is_the_gateways_namespace(
    tmp_path: Path, gateway_namespace: str, admitted: bool
) -> None:
    gateway = replace_once(GATEWAY, "- shop/shop.example.com", "- ./shop.example.com")
    gateway = replace_once(
        gateway,
        "  name: shop-gateway\n  namespace: istio-system",
        f"  name: shop-gateway\n  namespace: {gateway_namespace}",
    )
    frontend = replace_once(
        FRONTEND, "istio-system/shop-gateway", f"{gateway_namespace}/shop-gateway"
    )
    report = check_tree(
        tmp_path, {"istio-system/gateway.yaml": gateway, "shop/frontend.yaml": frontend}
    )
    assert codes(report) == ([] if admitted else ["gateway-host-mismatch"])


def test_every_host_is_checked_not_only_one(tmp_path: Path) -> None:
    frontend = replace_once(
        FRONTEND, "    - shop.example.com\n", "    - shop.example.com\n    - shop.example.org\n"
    )
    finding = only(check_tree(tmp_path, {"shop/frontend.yaml": frontend}), "gateway-host-mismatch")
    assert (finding.field, finding.line) == ("spec.hosts[1]", line_of(frontend, "shop.example.org"))


# --------------------------------------------------------------------------- selectors

WORKLOADS = {
    "Pod": """\
apiVersion: v1
kind: Pod
metadata:
  name: edge-0
  namespace: edge
  labels: {istio: edge}
""",
    "Deployment": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: edge
  namespace: edge
  labels: {istio: not-this}
spec:
  template:
    metadata:
      labels: {istio: edge}
""",
    "StatefulSet": """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: edge
  namespace: edge
spec:
  template:
    metadata:
      labels: {istio: edge}
""",
    "DaemonSet": """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: edge
  namespace: edge
spec:
  template:
    metadata:
      labels: {istio: edge}
""",
}

EDGE_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: istio-system
spec:
  selector:
    istio: edge
  servers:
    - port:
        number: 80
        name: http
        protocol: HTTP
      hosts:
        - "*/edge.example.com"
"""


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_gateway_selector_matches_pods_of_any_kind_and_namespace(tmp_path: Path, kind: str) -> None:
    workload = WORKLOADS[kind]
    report = check_tree(tmp_path, {"edge/workload.yaml": workload, "edge.yaml": EDGE_GATEWAY})
    assert report.findings == []
    unmatched = workload.replace("{istio: edge}", "{istio: edge-v2}")
    report = check_tree(tmp_path, {"edge/workload.yaml": unmatched, "edge.yaml": EDGE_GATEWAY})
    finding = only(report, "gateway-selector-matches-nothing")
    assert codes(report) == ["gateway-selector-matches-nothing"]
    assert (finding.kind, finding.namespace, finding.name) == ("Gateway", "istio-system", "edge")
    assert (finding.file, finding.field) == ("edge.yaml", "spec.selector")
    assert finding.line == line_of(EDGE_GATEWAY, "selector:")


def test_gateway_selector_needs_every_label_on_one_pod(tmp_path: Path) -> None:
    two_labels = EDGE_GATEWAY.replace("    istio: edge\n", "    istio: edge\n    zone: a\n")
    files = {"edge/workload.yaml": WORKLOADS["Pod"], "edge.yaml": two_labels}
    assert codes(check_tree(tmp_path, files)) == ["gateway-selector-matches-nothing"]


# --------------------------------------------------------------------------- conflicting hosts


def mesh_vs(name: str, namespace: str, host: str, extra: str = "") -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: {namespace}
spec:
  hosts:
    - {host}
{extra}  http:
    - route:
        - destination:
            host: api.example.org
"""


@pytest.mark.parametrize(
    ("first", "second", "conflict"),
    [
        ("", "", True),
        ('  gateways: ["mesh"]\n', "", True),
        ("", "  gateways:\n    - mesh\n    - istio-system/shop-gateway\n", True),
        # a VirtualService bound to a gateway only is not on the mesh
        ("", "  gateways:\n    - istio-system/shop-gateway\n", False),
        ('  exportTo: ["."]\n', "", True),  # "a" sees both
        ('  exportTo: ["."]\n', '  exportTo: ["."]\n', False),  # each sees its own
        ('  exportTo: ["b"]\n', '  exportTo: ["."]\n', True),  # "b" sees both
        ('  exportTo: ["c"]\n', '  exportTo: ["c"]\n', True),
        ('  exportTo: ["c"]\n', '  exportTo: ["d"]\n', False),
        ('  exportTo: ["~"]\n', "", False),
        ('  exportTo: ["*"]\n', '  exportTo: ["."]\n', True),
    ],
)
def test_conflicting_hosts_on_the_mesh(
    tmp_path: Path, first: str, second: str, conflict: bool
) -> None:
    gateway = replace_once(
        GATEWAY, "- shop/shop.example.com", '- shop/shop.example.com\n        - "*/api.example.org"'
    )
    a = mesh_vs("api", "a", "api.example.org", first)
    b = mesh_vs("api", "b", "api.example.org", second)
    files = {"istio-system/gateway.yaml": gateway, "a.yaml": a, "b.yaml": b}
    report = check_tree(tmp_path, files)
    if not conflict:
        assert report.findings == []
        return
    assert codes(report) == ["conflicting-hosts", "conflicting-hosts"]
    # every member of the conflict is reported (as istioctl's IST0109), naming the others
    by_name = {(f.namespace, f.name): f for f in report.findings}
    assert set(by_name) == {("a", "api"), ("b", "api")}
    finding = by_name[("b", "api")]
    assert (finding.file, finding.field) == ("b.yaml", "spec.hosts[0]")
    assert finding.line == line_of(b, "- api.example.org")
    assert "on the mesh" in finding.message
    assert "VirtualService a/api" in finding.message
    assert "VirtualService b/api" in by_name[("a", "api")].message


def test_short_and_full_names_of_one_host_conflict(tmp_path: Path) -> None:
    second = mesh_vs("reviews-2", "shop", "reviews.shop.svc.cluster.local")
    report = check_tree(tmp_path, {"case.yaml": second})
    [finding] = [f for f in report.findings if f.name == "reviews-2"]
    assert finding.code == "conflicting-hosts"
    assert finding.line == line_of(second, "- reviews.shop")
    assert "host reviews.shop.svc.cluster.local on the mesh" in finding.message
    assert "VirtualService shop/reviews" in finding.message


@pytest.mark.parametrize(
    ("first", "second", "conflict"),
    [
        ("*.example.org", "*.shop.example.org", True),
        ("*.example.org", "api.shop.example.org", True),
        ("*", "api.example.org", True),
        ("*.example.org", "example.org", False),  # a wildcard does not cover its own domain
        ("*.example.org", "*.example.com", False),
    ],
)
def test_overlapping_wildcard_hosts_on_the_mesh(
    tmp_path: Path, first: str, second: str, conflict: bool
) -> None:
    a = mesh_vs("wide", "a", f'"{first}"')
    b = mesh_vs("narrow", "b", f'"{second}"')
    report = check_tree(tmp_path, {"a.yaml": a, "b.yaml": b})
    pair = {("a", "wide"), ("b", "narrow")}
    found = {(f.namespace, f.name) for f in report.findings if f.code == "conflicting-hosts"}
    assert found & pair == (pair if conflict else set())


def test_one_host_split_over_virtual_services_on_a_gateway_is_merged(tmp_path: Path) -> None:
    """Istio's documented pattern: istiod merges a gateway host's VirtualServices, so paths
    split over two of them are fine."""
    api_only = replace_once(FRONTEND.split("---\n")[-1], "name: frontend", "name: frontend-api")
    api_only = api_only[
        : api_only.index("    - route:\n        - destination:\n            host: productpage")
    ]
    pages = replace_once(FRONTEND.split("---\n")[-1], "prefix: /api", "prefix: /pages")
    pages = pages[
        : pages.index("    - route:\n        - destination:\n            host: productpage")
    ]
    # the base mesh's frontend VirtualService gives way to these two
    service_and_pods = FRONTEND[: FRONTEND.rindex("---\n") + 4]
    files = {"shop/frontend.yaml": service_and_pods + api_only, "shop/pages.yaml": pages}
    report = check_tree(tmp_path, files)
    assert report.findings == []
    # with a catch-all in neither, no rule hides another whatever the merge order
    assert "route:\n        - destination:\n            host: productpage" not in api_only + pages


def test_two_catch_alls_for_one_host_on_a_gateway_warn(tmp_path: Path) -> None:
    second = replace_once(FRONTEND.split("---\n")[-1], "name: frontend", "name: frontend-v2")
    report = check_tree(tmp_path, {"shop/frontend-v2.yaml": second})
    assert codes(report) == ["conflicting-hosts", "conflicting-hosts"]
    findings = {f.name: f for f in report.findings}
    assert set(findings) == {"frontend", "frontend-v2"}
    finding = findings["frontend-v2"]
    assert finding.severity == "warning"
    assert finding.line == line_of(second, "    - route:")
    assert "on gateway istio-system/shop-gateway" in finding.message
    assert "VirtualService shop/frontend" in finding.message
    # the same host on two different gateways is no conflict
    other = replace_once(second, "istio-system/shop-gateway", "istio-system/other-gateway")
    gateway = GATEWAY.split("---\n")[-1].replace("shop-gateway", "other-gateway")
    gateway = gateway.replace("shop/shop.example.com", "shop/*")
    report = check_tree(tmp_path, {"shop/frontend-v2.yaml": other, "other.yaml": gateway})
    assert report.findings == []


def test_no_conflict_on_a_gateway_that_admits_neither_host(tmp_path: Path) -> None:
    second = replace_once(FRONTEND.split("---\n")[-1], "name: frontend", "name: frontend-v2")
    second = second.replace("shop.example.com", "elsewhere.example.com")
    report = check_tree(tmp_path, {"shop/frontend-v2.yaml": second})
    assert codes(report) == ["gateway-host-mismatch"]
