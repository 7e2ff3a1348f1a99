"""DestinationRules: which workloads their subsets select, their host, duplicate subsets, and
client TLS that does not verify the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from .mesh import check_tree, codes, line_of, only


def rule(host: str, body: str, *, name: str = "inventory", namespace: str = "shop") -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
  namespace: {namespace}
spec:
  host: {host}
{body}"""


def subset(version: str) -> str:
    return f"  subsets:\n    - name: {version}\n      labels:\n        version: {version}\n"


SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: inventory
  namespace: shop
spec:
  selector:
    app: inventory
  ports:
    - name: http
      port: 8080
---
"""

# Each kind of workload that carries pod labels, labelled app=inventory, version=v1.
WORKLOADS = {
    "Deployment": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: inventory
  namespace: shop
  labels: {app: inventory, version: v2}
spec:
  template:
    metadata:
      labels: {app: inventory, version: v1}
""",
    "StatefulSet": """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: inventory
  namespace: shop
spec:
  template:
    metadata:
      labels: {app: inventory, version: v1}
""",
    "ReplicaSet": """\
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: inventory
  namespace: shop
spec:
  template:
    metadata:
      labels: {app: inventory, version: v1}
""",
    "Pod": """\
apiVersion: v1
kind: Pod
metadata:
  name: inventory-0
  namespace: shop
  labels: {app: inventory, version: v1}
""",
}


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
@pytest.mark.parametrize(("version", "selects"), [("v1", True), ("v2", False)])
def test_subset_labels_against_pod_labels(
    tmp_path: Path, kind: str, version: str, selects: bool
) -> None:
    """Pod template labels count, not the workload's own labels (the Deployment has v2)."""
    text = rule("inventory", subset(version))
    report = check_tree(tmp_path, {"inventory.yaml": SERVICE + WORKLOADS[kind], "dr.yaml": text})
    if selects:
        assert report.findings == []
        return
    finding = only(report, "subset-selects-nothing")
    assert codes(report) == ["subset-selects-nothing"]
    assert (finding.kind, finding.namespace, finding.name) == (
        "DestinationRule",
        "shop",
        "inventory",
    )
    assert (finding.file, finding.field) == ("dr.yaml", "spec.subsets[0].labels")
    assert finding.line == line_of(text, "labels:")
    assert "version=v2" in finding.message


def test_pods_of_another_namespace_are_not_endpoints(tmp_path: Path) -> None:
    elsewhere = WORKLOADS["Pod"].replace("namespace: shop", "namespace: web")
    also_v2 = elsewhere.replace("version: v1", "version: v2").replace("inventory-0", "inventory-1")
    files = {
        "inventory.yaml": SERVICE + WORKLOADS["Pod"],
        "web.yaml": also_v2,
        "dr.yaml": rule("inventory", subset("v2")),
    }
    assert codes(check_tree(tmp_path, files)) == ["subset-selects-nothing"]


def test_unknown_endpoints_are_not_judged(tmp_path: Path) -> None:
    """A namespace whose workloads are not in the files tells nothing about its subsets."""
    files = {"inventory.yaml": SERVICE, "dr.yaml": rule("inventory", subset("v2"))}
    assert check_tree(tmp_path, files, base=False).findings == []


def test_a_service_without_pods_where_the_files_declare_the_namespaces_workloads(
    tmp_path: Path,
) -> None:
    """istioctl's subsets-not-select-pods: the namespace's workloads are in the files, and
    none of them is the Service's, so no subset selects anything."""
    files = {"inventory.yaml": SERVICE, "dr.yaml": rule("inventory", subset("v2"))}
    finding = only(check_tree(tmp_path, files), "subset-selects-nothing")
    assert "none of the 0 workloads" in finding.message


STATIC_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: legacy
  namespace: shop
spec:
  hosts:
    - legacy.example.internal
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
    - number: 80
      name: http
      protocol: HTTP
  endpoints:
    - address: 192.0.2.1
      labels:
        version: v1
"""

SELECTOR_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: legacy
  namespace: shop
spec:
  hosts:
    - legacy.example.internal
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
    - number: 80
      name: http
      protocol: HTTP
  workloadSelector:
    labels:
      app: legacy
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: legacy-vm
  namespace: shop
spec:
  address: 192.0.2.1
  labels:
    app: legacy
    version: v1
"""


@pytest.mark.parametrize("entry", [STATIC_ENTRY, SELECTOR_ENTRY], ids=["endpoints", "selector"])
@pytest.mark.parametrize(("version", "selects"), [("v1", True), ("v2", False)])
def test_service_entry_endpoints(tmp_path: Path, entry: str, version: str, selects: bool) -> None:
    text = rule("legacy.example.internal", subset(version), name="legacy")
    report = check_tree(tmp_path, {"legacy.yaml": entry, "dr.yaml": text})
    assert codes(report) == ([] if selects else ["subset-selects-nothing"])
    if not selects:
        assert report.findings[0].line == line_of(text, "labels:")


def test_subset_without_labels(tmp_path: Path) -> None:
    text = rule(
        "inventory",
        "  subsets:\n    - name: v1\n      labels:\n        version: v1\n    - name: any\n",
    )
    report = check_tree(tmp_path, {"inventory.yaml": SERVICE + WORKLOADS["Pod"], "dr.yaml": text})
    finding = only(report, "subset-without-labels")
    assert codes(report) == ["subset-without-labels"]
    assert (finding.field, finding.line) == ("spec.subsets[1]", line_of(text, "- name: any"))


# --------------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    ("namespace", "host", "found"),
    [
        ("shop", "reviews", True),
        ("web", "reviews.shop.svc.cluster.local", True),
        ("web", "reviews", False),  # reviews.web.svc.cluster.local
        ("shop", "api.example.org", True),
        ("shop", "*.shop.svc.cluster.local", True),  # a wildcard names no one host
        ("shop", "reviews.shop", False),
    ],
)
def test_destination_rule_host(tmp_path: Path, namespace: str, host: str, found: bool) -> None:
    text = rule(
        f'"{host}"',
        "  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n",
        name="extra",
        namespace=namespace,
    )
    report = check_tree(tmp_path, {"dr.yaml": text})
    if found:
        assert report.findings == []
        return
    finding = only(report, "dr-host-not-found")
    assert codes(report) == ["dr-host-not-found"]
    assert (finding.namespace, finding.name, finding.field) == (namespace, "extra", "spec.host")
    assert finding.line == line_of(text, "host:")


def test_host_under_a_wildcard_service_entry(tmp_path: Path) -> None:
    entry = STATIC_ENTRY.replace("    - legacy.example.internal", '    - "*.example.internal"')
    entry = entry.replace("resolution: STATIC", "resolution: NONE")
    text = rule("db.example.internal", subset("v1"), name="db")
    report = check_tree(tmp_path, {"legacy.yaml": entry, "dr.yaml": text})
    assert report.findings == []


# --------------------------------------------------------------------------- duplicate subsets


@pytest.mark.parametrize(
    ("second_namespace", "second_host", "selector", "duplicate"),
    [
        ("shop", "reviews", "", True),
        ("shop", "reviews.shop.svc.cluster.local", "", True),
        ("web", "reviews.shop.svc.cluster.local", "", False),  # not merged across namespaces
        (
            "shop",
            "reviews",
            "  workloadSelector:\n    matchLabels:\n      app: productpage\n",
            False,
        ),
    ],
)
def test_duplicate_subset_across_rules(
    tmp_path: Path, second_namespace: str, second_host: str, selector: str, duplicate: bool
) -> None:
    text = rule(
        second_host, selector + subset("v1"), name="reviews-more", namespace=second_namespace
    )
    report = check_tree(tmp_path, {"more.yaml": text})
    if not duplicate:
        assert report.findings == []
        return
    finding = only(report, "duplicate-subset")
    assert codes(report) == ["duplicate-subset"]
    assert (finding.name, finding.file) == ("reviews-more", "more.yaml")
    assert (finding.field, finding.line) == ("spec.subsets[0].name", line_of(text, "- name: v1"))
    assert "also defined by DestinationRule shop/reviews" in finding.message


# --------------------------------------------------------------------------- TLS


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ("  trafficPolicy:\n    tls:\n      mode: SIMPLE\n", "spec.trafficPolicy.tls", "tls:"),
        (
            "  trafficPolicy:\n    tls:\n      mode: MUTUAL\n"
            "      clientCertificate: /c.pem\n      privateKey: /k.pem\n",
            "spec.trafficPolicy.tls",
            "tls:",
        ),
        (
            "  trafficPolicy:\n    portLevelSettings:\n      - port:\n          number: 443\n"
            "        tls:\n          mode: SIMPLE\n",
            "spec.trafficPolicy.portLevelSettings[0].tls",
            "tls:",
        ),
        (
            "  subsets:\n    - name: v1\n      labels:\n        app: productpage\n"
            "      trafficPolicy:\n        tls:\n          mode: SIMPLE\n",
            "spec.subsets[0].trafficPolicy.tls",
            "tls:",
        ),
        (
            "  subsets:\n    - name: v1\n      labels:\n        app: productpage\n"
            "      trafficPolicy:\n        portLevelSettings:\n          - port:\n"
            "              number: 443\n            tls:\n              mode: SIMPLE\n",
            "spec.subsets[0].trafficPolicy.portLevelSettings[0].tls",
            "tls:",
        ),
        (  # a CA, but verification switched off
            "  trafficPolicy:\n    tls:\n      mode: SIMPLE\n      caCertificates: /ca.pem\n"
            "      insecureSkipVerify: true\n",
            "spec.trafficPolicy.tls",
            "tls:",
        ),
    ],
)
def test_no_tls_verification(tmp_path: Path, body: str, field: str, needle: str) -> None:
    text = rule("productpage", body, name="productpage")
    report = check_tree(tmp_path, {"tls.yaml": text})
    finding = only(report, "no-tls-verification")
    assert codes(report) == ["no-tls-verification"]
    assert (finding.kind, finding.name, finding.field) == ("DestinationRule", "productpage", field)
    assert finding.line == line_of(text, needle)


@pytest.mark.parametrize(
    "tls",
    [
        "      mode: SIMPLE\n      caCertificates: /ca.pem\n",
        "      mode: MUTUAL\n      caCertificates: /ca.pem\n      insecureSkipVerify: false\n",
        "      mode: ISTIO_MUTUAL\n",
        "      mode: DISABLE\n",
    ],
)
def test_verified_or_not_applicable_tls(tmp_path: Path, tls: str) -> None:
    text = rule("productpage", "  trafficPolicy:\n    tls:\n" + tls, name="productpage")
    assert check_tree(tmp_path, {"tls.yaml": text}).findings == []


def test_credential_name_verifies_only_for_gateway_workloads(tmp_path: Path) -> None:
    """Only gateways read a DestinationRule's credentialName: for sidecars it verifies nothing
    (istioctl's IST0128 asks for a workloadSelector with it)."""
    tls = "  trafficPolicy:\n    tls:\n      mode: SIMPLE\n      credentialName: reviews-ca\n"
    text = rule("productpage", tls, name="productpage")
    finding = only(check_tree(tmp_path, {"tls.yaml": text}), "no-tls-verification")
    assert "credentialName is read only by gateways" in finding.message
    selected = text.replace(
        "spec:\n", "spec:\n  workloadSelector:\n    matchLabels:\n      app: productpage\n", 1
    )
    assert check_tree(tmp_path, {"tls.yaml": selected}).findings == []
