"""Valid configurations that must not fail the gate, and problems that must not pass it: each
class from Istio's semantics (istiod's merging, binding and name resolution), with the YAML a
user would write."""

from __future__ import annotations

from pathlib import Path

from .mesh import FRONTEND, GATEWAY, REVIEWS, check_tree, codes, line_of, only, replace_once

SECOND_GATEWAY = (
    GATEWAY.split("---\n")[-1]
    .replace("shop-gateway", "api-gateway")
    .replace("number: 80\n", "number: 8080\n")
    .replace("name: http\n", "name: http-api\n")
    .replace("shop/shop.example.com", "shop/api.example.com")
)
"""The base mesh's Gateway, again for api.example.com on its own port."""


def frontend_vs(spec_hosts: str, gateways: str) -> str:
    """The base mesh's frontend VirtualService with other hosts and gateways."""
    vs = FRONTEND.split("---\n")[-1]
    vs = replace_once(vs, "    - shop.example.com\n", spec_hosts)
    return replace_once(vs, "    - istio-system/shop-gateway\n", gateways)


def with_frontend(vs: str) -> str:
    return FRONTEND[: FRONTEND.rindex("---\n") + 4] + vs


def test_a_virtual_service_bound_to_two_gateways_each_admitting_one_host(tmp_path: Path) -> None:
    vs = frontend_vs(
        "    - shop.example.com\n    - api.example.com\n",
        "    - istio-system/shop-gateway\n    - istio-system/api-gateway\n",
    )
    files = {"shop/frontend.yaml": with_frontend(vs), "istio-system/api.yaml": SECOND_GATEWAY}
    assert check_tree(tmp_path, files).findings == []


def test_a_host_no_bound_gateway_admits_is_reported_on_the_host(tmp_path: Path) -> None:
    vs = frontend_vs(
        "    - shop.example.com\n    - admin.example.com\n",
        "    - istio-system/shop-gateway\n    - istio-system/api-gateway\n",
    )
    files = {"shop/frontend.yaml": with_frontend(vs), "istio-system/api.yaml": SECOND_GATEWAY}
    report = check_tree(tmp_path, files)
    # api-gateway admits none of the hosts (istioctl's IST0132), and admin.example.com is
    # admitted by none of the gateways
    fields = sorted(f.field or "" for f in report.findings if f.code == "gateway-host-mismatch")
    assert fields == ["spec.gateways[1]", "spec.hosts[1]"]
    assert codes(report) == ["gateway-host-mismatch"] * 2


def test_a_host_served_by_the_mesh_needs_no_gateway(tmp_path: Path) -> None:
    vs = frontend_vs(
        "    - shop.example.com\n    - productpage\n",
        "    - istio-system/shop-gateway\n    - mesh\n",
    )
    report = check_tree(tmp_path, {"shop/frontend.yaml": with_frontend(vs)})
    assert "gateway-host-mismatch" not in codes(report)


KUBERNETES_GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: istio-system
spec:
  gatewayClassName: istio
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      hostname: "*.example.com"
"""


def test_a_virtual_service_may_bind_to_a_gateway_api_gateway(tmp_path: Path) -> None:
    vs = frontend_vs("    - shop.example.com\n", "    - istio-system/public\n")
    files = {
        "shop/frontend.yaml": with_frontend(vs),
        "istio-system/public.yaml": KUBERNETES_GATEWAY,
    }
    assert check_tree(tmp_path, files).findings == []
    # its listeners' hostnames are the hosts it admits
    other = frontend_vs("    - shop.example.org\n", "    - istio-system/public\n")
    report = check_tree(tmp_path, {**files, "shop/frontend.yaml": with_frontend(other)})
    finding = only(report, "gateway-host-mismatch")
    assert "server hosts: *.example.com" in finding.message


def test_subsets_may_select_on_the_topology_labels_istiod_adds(tmp_path: Path) -> None:
    rule = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews-by-zone
  namespace: shop
spec:
  host: reviews
  subsets:
    - name: zone-a
      labels:
        version: v1
        topology.kubernetes.io/zone: eu-west-1a
    - name: v9-zone-a
      labels:
        version: v9
        topology.kubernetes.io/zone: eu-west-1a
"""
    report = check_tree(tmp_path, {"shop/zones.yaml": rule})
    # the zone is the Node's, unknown in the files: only the version can be judged
    finding = only(report, "subset-selects-nothing")
    assert codes(report) == ["subset-selects-nothing"]
    assert "'v9-zone-a'" in finding.message


ROUTES = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: mobile
  namespace: shop
spec:
  hosts: [mobile]
  http:
    - route:
        - destination: {}
    - route:
        - destination:
            host: reviews
            subset: v9
    - route:
        - destination:
            host: reviws
"""


def test_an_invalid_destination_does_not_hide_the_others(tmp_path: Path) -> None:
    report = check_tree(tmp_path, {"shop/mobile.yaml": ROUTES})
    assert codes(report) == ["schema", "subset-not-found", "host-not-found"]
    subset = only(report, "subset-not-found")
    # the paths name the document's items, though the invalid rule was cut out to check them
    assert subset.field == "spec.http[1].route[0].destination.subset"
    assert subset.line == line_of(ROUTES, "subset: v9")
    assert only(report, "host-not-found").line == line_of(ROUTES, "host: reviws")


def test_a_missing_host_does_not_hide_its_missing_subset(tmp_path: Path) -> None:
    vs = ROUTES.replace("        - destination: {}\n", "        - destination: {host: nowhere}\n")
    vs = vs.replace(
        "host: reviews\n            subset: v9", "host: nowhere\n            subset: v1"
    )
    report = check_tree(tmp_path, {"shop/mobile.yaml": vs})
    assert "subset-not-found" in codes(report)
    assert [f.field for f in report.findings if f.code == "subset-not-found"] == [
        "spec.http[1].route[0].destination.subset"
    ]


def test_names_resolve_where_the_virtual_service_is_exported(tmp_path: Path) -> None:
    """A VirtualService in shop exported only to web is used by web's proxies: its short names
    and its subsets resolve there, where reviews' DestinationRule (exported to shop) is not
    seen."""
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: for-web
  namespace: shop
spec:
  hosts: [reviews-web.example.com]
  exportTo: [web]
  http:
    - route:
        - destination:
            host: reviews.shop.svc.cluster.local
            subset: v1
"""
    report = check_tree(tmp_path / "seen", {"shop/for-web.yaml": vs})
    assert report.findings == []
    private = replace_once(
        REVIEWS, "spec:\n  host: reviews\n", 'spec:\n  host: reviews\n  exportTo: ["."]\n'
    )
    files = {"shop/for-web.yaml": vs, "shop/reviews.yaml": private}
    report = check_tree(tmp_path / "private", files)
    finding = only(report, "subset-not-found")
    assert (finding.name, finding.field) == ("for-web", "spec.http[0].route[0].destination.subset")
