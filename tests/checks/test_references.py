"""Names in a VirtualService resolve as istiod resolves them: hosts (short, FQDN, wildcard,
exportTo), ports, subsets (exact and wildcard DestinationRules) and gateways."""

from __future__ import annotations

from pathlib import Path

import pytest

from .mesh import (
    EXTERNAL,
    FRONTEND,
    GATEWAY,
    REVIEWS,
    check_tree,
    codes,
    line_of,
    only,
    replace_once,
)


def route_to(host: str, *, namespace: str = "shop", extra: str = "") -> str:
    """A mesh VirtualService ``mobile`` in ``namespace`` sending everything to ``host``."""
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: mobile
  namespace: {namespace}
spec:
  hosts:
    - mobile
  http:
    - route:
        - destination:
            host: {host}
{extra}"""


# --------------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    ("namespace", "host", "looked_for"),
    [
        ("shop", "reviews", None),
        ("shop", "reviews.shop.svc.cluster.local", None),
        ("web", "reviews.shop.svc.cluster.local", None),
        ("web", "api.example.org", None),
        # a short name expands in the VirtualService's namespace, not in the Service's
        ("web", "reviews", "reviews.web.svc.cluster.local"),
        # a name with a dot is taken as written: no search domains as in a pod's resolv.conf
        ("shop", "reviews.shop", "reviews.shop"),
        ("shop", "api.example.com", "api.example.com"),
    ],
)
def test_destination_host_resolution(
    tmp_path: Path, namespace: str, host: str, looked_for: str | None
) -> None:
    text = route_to(host, namespace=namespace)
    report = check_tree(tmp_path, {"case.yaml": text})
    if looked_for is None:
        assert report.findings == []
        return
    finding = only(report, "host-not-found")
    assert codes(report) == ["host-not-found"]
    assert (finding.namespace, finding.name) == (namespace, "mobile")
    assert finding.field == "spec.http[0].route[0].destination.host"
    assert finding.line == line_of(text, f"host: {host}")
    assert f"(looked for {looked_for})" in finding.message


def test_mirror_destinations_are_resolved_too(tmp_path: Path) -> None:
    extra = "      mirror:\n        host: reviewz\n"
    text = route_to("reviews", extra=extra)
    finding = only(check_tree(tmp_path, {"case.yaml": text}), "host-not-found")
    assert finding.field == "spec.http[0].mirror.host"
    assert finding.line == line_of(text, "host: reviewz")
    fixed = route_to("reviews", extra=extra.replace("reviewz", "reviews"))
    assert check_tree(tmp_path, {"case.yaml": fixed}).findings == []


WILDCARD_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: partners
  namespace: shop
spec:
  hosts:
    - "*.partners.example.net"
  location: MESH_EXTERNAL
  resolution: NONE
  ports:
    - number: 443
      name: https
      protocol: HTTPS
"""


@pytest.mark.parametrize(
    ("host", "found"),
    [
        ("acme.partners.example.net", True),
        ("eu.acme.partners.example.net", True),
        ("partners.example.net", False),  # *.x covers names below x, not x itself
        ("acme.example.net", False),
    ],
)
def test_wildcard_service_entry_hosts(tmp_path: Path, host: str, found: bool) -> None:
    report = check_tree(tmp_path, {"partners.yaml": WILDCARD_ENTRY, "case.yaml": route_to(host)})
    assert codes(report) == ([] if found else ["host-not-found"])


# --------------------------------------------------------------------------- exportTo


def _reviews_exported_to(value: str) -> str:
    return replace_once(
        REVIEWS,
        "  name: reviews\n  namespace: shop\nspec:\n  selector:",
        "  name: reviews\n  namespace: shop\n  annotations:\n"
        f'    networking.istio.io/exportTo: "{value}"\nspec:\n  selector:',
    )


@pytest.mark.parametrize(
    ("export_to", "client", "visible"),
    [
        (".", "shop", True),
        (".", "web", False),
        (".,web", "web", True),
        ("shop, web", "web", True),
        ("*", "web", True),
        ("shop", "web", False),
        ("shop,other", "web", False),
    ],
)
def test_service_export_to_annotation(
    tmp_path: Path, export_to: str, client: str, visible: bool
) -> None:
    text = route_to("reviews.shop.svc.cluster.local", namespace=client)
    report = check_tree(
        tmp_path, {"shop/reviews.yaml": _reviews_exported_to(export_to), "case.yaml": text}
    )
    if visible:
        assert report.findings == []
    else:
        finding = only(report, "host-not-found")
        assert codes(report) == ["host-not-found"]
        assert (finding.namespace, finding.line) == (client, line_of(text, "host: reviews"))


@pytest.mark.parametrize(("client", "visible"), [("shop", True), ("web", False)])
def test_service_entry_export_to(tmp_path: Path, client: str, visible: bool) -> None:
    hidden = replace_once(
        EXTERNAL, "  resolution: DNS\n", "  resolution: DNS\n  exportTo:\n    - .\n"
    )
    text = route_to("api.example.org", namespace=client)
    report = check_tree(tmp_path, {"shop/external.yaml": hidden, "case.yaml": text})
    assert codes(report) == ([] if visible else ["host-not-found"])


@pytest.mark.parametrize(("client", "visible"), [("shop", True), ("web", False)])
def test_destination_rule_export_to_hides_its_subsets(
    tmp_path: Path, client: str, visible: bool
) -> None:
    hidden = replace_once(
        REVIEWS,
        "  host: reviews\n  trafficPolicy:",
        "  host: reviews\n  exportTo:\n    - .\n  trafficPolicy:",
    )
    text = route_to(
        "reviews.shop.svc.cluster.local", namespace=client, extra="            subset: v1\n"
    )
    report = check_tree(tmp_path, {"shop/reviews.yaml": hidden, "case.yaml": text})
    if visible:
        assert report.findings == []
    else:
        finding = only(report, "subset-not-found")
        assert codes(report) == ["subset-not-found"]
        assert finding.line == line_of(text, "subset: v1")
        assert "no DestinationRule defines subsets" in finding.message


# --------------------------------------------------------------------------- ports


def test_port_required_only_for_multi_port_services(tmp_path: Path) -> None:
    single = route_to("reviews")  # one port: nothing to choose
    assert check_tree(tmp_path, {"case.yaml": single}).findings == []
    several = route_to("ratings")
    finding = only(check_tree(tmp_path, {"case.yaml": several}), "port-required")
    assert finding.field == "spec.http[0].route[0].destination"
    assert finding.line == line_of(several, "- destination:")
    assert "9080, 9090" in finding.message


def test_port_required_for_a_mirror_to_a_multi_port_service(tmp_path: Path) -> None:
    text = route_to("reviews", extra="      mirror:\n        host: ratings\n")
    finding = only(check_tree(tmp_path, {"case.yaml": text}), "port-required")
    assert (finding.field, finding.line) == ("spec.http[0].mirror", line_of(text, "mirror:"))


@pytest.mark.parametrize(("number", "found"), [(443, True), (80, False)])
def test_port_of_a_service_entry(tmp_path: Path, number: int, found: bool) -> None:
    extra = f"            port:\n              number: {number}\n"
    text = route_to("api.example.org", extra=extra)
    report = check_tree(tmp_path, {"case.yaml": text})
    if found:
        assert report.findings == []
    else:
        finding = only(report, "port-not-found")
        assert codes(report) == ["port-not-found"]
        assert finding.field == "spec.http[0].route[0].destination.port.number"
        assert finding.line == line_of(text, f"number: {number}")


# --------------------------------------------------------------------------- subsets

WILDCARD_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: all-shop
  namespace: shop
spec:
  host: "*.shop.svc.cluster.local"
  subsets:
    - name: v1
      labels:
        version: v1
    - name: v3
      labels:
        version: v3
"""


def _reviews_without_rule() -> str:
    docs = REVIEWS.split("---\n")
    kept = [d for d in docs if "kind: DestinationRule" not in d]
    assert len(kept) == len(docs) - 1
    return "---\n".join(kept)


def test_wildcard_destination_rule_provides_subsets(tmp_path: Path) -> None:
    files = {"shop/reviews.yaml": _reviews_without_rule(), "shop/all.yaml": WILDCARD_RULE}
    text = route_to("reviews", extra="            subset: v3\n")
    report = check_tree(tmp_path, {**files, "case.yaml": text})
    # the base VirtualService also routes to v2, which the wildcard rule does not define
    assert codes(report) == ["subset-not-found", "subset-not-found"]
    assert {(f.file, f.name) for f in report.findings} == {("shop/reviews.yaml", "reviews")}
    assert all(
        "DestinationRule shop/all-shop defines: v1, v3" in f.message for f in report.findings
    )


def test_exact_destination_rule_wins_over_a_wildcard_one(tmp_path: Path) -> None:
    text = route_to("reviews", extra="            subset: v3\n")
    report = check_tree(tmp_path, {"shop/all.yaml": WILDCARD_RULE, "case.yaml": text})
    finding = only(report, "subset-not-found")
    assert codes(report) == ["subset-not-found"]
    assert "DestinationRule shop/reviews defines: v1, v2" in finding.message
    assert finding.line == line_of(text, "subset: v3")


def test_subset_of_a_host_without_destination_rule(tmp_path: Path) -> None:
    text = route_to("productpage", extra="            subset: v1\n")
    finding = only(check_tree(tmp_path, {"case.yaml": text}), "subset-not-found")
    assert "no DestinationRule defines subsets" in finding.message


# --------------------------------------------------------------------------- gateways

LOCAL_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: local-gateway
  namespace: shop
spec:
  selector:
    istio: ingressgateway
  servers:
    - port:
        number: 8080
        name: http
        protocol: HTTP
      hosts:
        - ./shop.example.com
"""


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("istio-system/shop-gateway", []),
        ("shop/local-gateway", []),
        ("./local-gateway", []),
        ("local-gateway", []),
        # a bare name is a gateway of the VirtualService's own namespace
        ("shop-gateway", ["gateway-not-found"]),
        ("istio-system/local-gateway", ["gateway-not-found"]),
        ("web/shop-gateway", ["gateway-not-found"]),
        # the name.namespace form still works, but is deprecated
        ("shop-gateway.istio-system", ["deprecated"]),
        ("shop-gateway.istio-system.svc.cluster.local", ["deprecated"]),
        ("local-gateway.istio-system", ["deprecated", "gateway-not-found"]),
    ],
)
def test_gateway_reference_forms(tmp_path: Path, reference: str, expected: list[str]) -> None:
    text = replace_once(FRONTEND, "- istio-system/shop-gateway", f"- {reference}")
    report = check_tree(tmp_path, {"shop/frontend.yaml": text, "shop/gateway.yaml": LOCAL_GATEWAY})
    assert sorted(codes(report)) == expected
    for finding in report.findings:
        assert (finding.kind, finding.name, finding.field) == (
            "VirtualService",
            "frontend",
            "spec.gateways[0]",
        )
        assert finding.line == line_of(text, f"- {reference}")
    if "deprecated" in expected:
        assert "write istio-system/" in only(report, "deprecated").message


def _with_match_gateway(reference: str) -> str:
    return replace_once(
        FRONTEND,
        "            prefix: /api\n",
        f"            prefix: /api\n          gateways:\n            - {reference}\n",
    )


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("istio-system/shop-gateway", []),
        ("mesh", []),
        ("istio-system/shop-gateways", ["gateway-not-found"]),
        ("shop-gateway.istio-system", ["deprecated"]),
    ],
)
def test_match_level_gateways(tmp_path: Path, reference: str, expected: list[str]) -> None:
    text = _with_match_gateway(reference)
    report = check_tree(tmp_path, {"shop/frontend.yaml": text})
    assert codes(report) == expected
    for finding in report.findings:
        assert finding.field == "spec.http[0].match[0].gateways[0]"
        assert finding.line == line_of(text, f"- {reference}")


# --------------------------------------------------------------------------- broken objects


def test_broken_gateway_still_exists(tmp_path: Path) -> None:
    broken = replace_once(GATEWAY, "number: 80\n", 'number: "80"\n')
    report = check_tree(tmp_path, {"istio-system/gateway.yaml": broken})
    finding = only(report, "schema")
    assert codes(report) == ["schema"]
    assert (finding.kind, finding.namespace, finding.name) == (
        "Gateway",
        "istio-system",
        "shop-gateway",
    )
    assert finding.field == "spec.servers[0].port.number"
    assert finding.line == line_of(broken, 'number: "80"')


def test_broken_service_still_exists(tmp_path: Path) -> None:
    broken = replace_once(REVIEWS, "port: 9080\n", 'port: "http"\n')
    report = check_tree(tmp_path, {"shop/reviews.yaml": broken})
    finding = only(report, "schema")
    assert codes(report) == ["schema"]
    assert (finding.kind, finding.name, finding.field) == (
        "Service",
        "reviews",
        "spec.ports[0].port",
    )
    assert finding.line == line_of(broken, 'port: "http"')


def test_broken_destination_rule_still_defines_its_subsets(tmp_path: Path) -> None:
    broken = replace_once(REVIEWS, "      mode: ISTIO_MUTUAL\n", "      mode: ISTIO_MUTAL\n")
    report = check_tree(tmp_path, {"shop/reviews.yaml": broken})
    finding = only(report, "schema")
    assert codes(report) == ["schema"]  # no subset-not-found for v1 and v2
    assert (finding.kind, finding.field) == ("DestinationRule", "spec.trafficPolicy.tls.mode")
    assert finding.line == line_of(broken, "mode: ISTIO_MUTAL")


def test_broken_destination_rule_does_not_make_its_host_exist(tmp_path: Path) -> None:
    broken_rule = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ghost
  namespace: shop
spec:
  host: ghost
  subsets: {v1: {}}
"""
    text = route_to("ghost", extra="            subset: v1\n")
    report = check_tree(tmp_path, {"ghost.yaml": broken_rule, "case.yaml": text})
    assert sorted(codes(report)) == ["host-not-found", "schema"]
    assert only(report, "host-not-found").file == "case.yaml"


@pytest.mark.parametrize(
    ("hosts", "destination"),
    [
        ("api.example.org", "api.example.org"),
        ('"*.example.org"', "api.example.org"),
    ],
)
def test_broken_service_entry_still_provides_its_hosts(
    tmp_path: Path, hosts: str, destination: str
) -> None:
    broken = replace_once(
        EXTERNAL, "    - api.example.org\n  location", f"    - {hosts}\n  location"
    )
    broken = replace_once(broken, "  resolution: DNS\n", "  resolution: DNZ\n")
    text = route_to(destination)
    report = check_tree(tmp_path, {"shop/external.yaml": broken, "case.yaml": text})
    finding = only(report, "schema")
    assert codes(report) == ["schema"]  # neither host-not-found nor dr-host-not-found
    assert (finding.kind, finding.field) == ("ServiceEntry", "spec.resolution")
    assert finding.line == line_of(broken, "resolution: DNZ")
