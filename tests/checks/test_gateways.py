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
    assert finding.field == "spec.hosts[0]"
    assert finding.line == line_of(frontend, f'- "{vs_host}"')
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
    finding = only(report, "conflicting-hosts")
    assert codes(report) == ["conflicting-hosts"]
    # the later one (by namespace, name) is reported, and names the one kept
    assert (finding.namespace, finding.name, finding.file) == ("b", "api", "b.yaml")
    assert (finding.field, finding.line) == ("spec.hosts[0]", line_of(b, "- api.example.org"))
    assert "on the mesh" in finding.message
    assert "VirtualService a/api" in finding.message


def test_short_and_full_names_of_one_host_conflict(tmp_path: Path) -> None:
    second = mesh_vs("reviews-2", "shop", "reviews.shop.svc.cluster.local")
    finding = only(check_tree(tmp_path, {"case.yaml": second}), "conflicting-hosts")
    assert (finding.name, finding.line) == ("reviews-2", line_of(second, "- reviews.shop"))
    assert "host reviews.shop.svc.cluster.local on the mesh" in finding.message


def test_conflicting_hosts_on_one_gateway(tmp_path: Path) -> None:
    second = replace_once(FRONTEND.split("---\n")[-1], "name: frontend", "name: frontend-v2")
    report = check_tree(tmp_path, {"shop/frontend-v2.yaml": second})
    finding = only(report, "conflicting-hosts")
    assert codes(report) == ["conflicting-hosts"]
    assert (finding.name, finding.file) == ("frontend-v2", "shop/frontend-v2.yaml")
    assert finding.line == line_of(second, "- shop.example.com")
    assert "on gateway istio-system/shop-gateway" in finding.message
    # the same host on two different gateways is no conflict
    other = replace_once(second, "istio-system/shop-gateway", "istio-system/other-gateway")
    gateway = GATEWAY.split("---\n")[-1].replace("shop-gateway", "other-gateway")
    report = check_tree(tmp_path, {"shop/frontend-v2.yaml": other, "other.yaml": gateway})
    assert report.findings == []
