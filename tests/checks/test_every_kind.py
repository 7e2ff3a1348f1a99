"""No document passes unseen: every kind of the Istio and Gateway API CRDs and every kind a real
Kubernetes API server serves is checked, listed as not checked, or a finding; and no kind that
really exists is an ``unknown-kind`` error (a gate that refuses valid kinds gets switched off).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.checking import CheckOptions, check_files
from reconciler.codes import Severity
from reconciler.findings import Report
from reconciler.model.kinds import KNOWN_GROUPS
from reconciler.source.loading import directory_files

TESTDATA = Path(__file__).parents[1] / "testdata"
CRD_FILES = ("istio-crds.yaml", "gateway-api-crds.yaml")

GroupVersionKind = tuple[str, str, str]


def crd_kinds() -> list[GroupVersionKind]:
    """(group, version, kind) of every served version of every CRD Istio and the Gateway API
    ship."""
    found = []
    for name in CRD_FILES:
        for crd in yaml.safe_load_all((TESTDATA / name).read_text(encoding="utf-8")):
            if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    found.append((spec["group"], version["name"], spec["names"]["kind"]))
    return sorted(found)


def served_kinds(kube_api: Any) -> list[GroupVersionKind]:
    """(group, version, kind) of every resource the API server serves (not subresources)."""

    def get(path: str) -> Any:
        response = kube_api.call_api("GET", kube_api.configuration.host + path)
        response.read()
        return json.loads(response.data)

    paths = ["/api/v1"]
    for group in get("/apis")["groups"]:
        paths += [f"/apis/{version['groupVersion']}" for version in group["versions"]]
    found = set()
    for path in paths:
        listing = get(path)
        group, _, version = listing["groupVersion"].rpartition("/")
        for resource in listing["resources"]:
            if "/" not in resource["name"]:
                found.add((group, version, resource["kind"]))
    return sorted(found)


def check_one(root: Path, group: str, version: str, kind: str) -> Report:
    api_version = f"{group}/{version}" if group else version
    document = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "one", "namespace": "shop"},
        "spec": {},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "object.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return check_files(directory_files(root), CheckOptions(cache_dir=None))


def accounted(report: Report, kind: str) -> Iterator[str]:
    """How the object was accounted for (one or more of: checked, listed, finding)."""
    if report.checked_resources:
        yield "checked"
    if [o.kind for o in report.not_checked] == [kind]:
        yield "listed"
    if any(f.kind == kind for f in report.findings):
        yield "finding"


def assert_accounted(tmp_path: Path, kinds: list[GroupVersionKind]) -> None:
    silent, refused = [], []
    for index, (group, version, kind) in enumerate(kinds):
        report = check_one(tmp_path / str(index), group, version, kind)
        if not list(accounted(report, kind)):
            silent.append((group, version, kind))
        refused += [
            (group, version, kind, f.message)
            for f in report.findings
            if f.code == "unknown-kind" and f.severity == "error"
        ]
    assert silent == [], f"passed over silently: {silent}"
    assert refused == [], f"real kinds refused as unknown: {refused}"


def test_every_istio_and_gateway_api_kind_is_accounted_for(tmp_path: Path) -> None:
    kinds = crd_kinds()
    assert {"VirtualService", "Sidecar", "AuthorizationPolicy", "HTTPRoute", "TLSRoute"} <= {
        kind for _, _, kind in kinds
    }
    assert_accounted(tmp_path, kinds)


def test_every_kind_a_real_api_server_serves_is_accounted_for(
    tmp_path: Path, kube_api: Any
) -> None:
    kinds = served_kinds(kube_api)
    assert ("", "v1", "ConfigMap") in kinds and ("apps", "v1", "Deployment") in kinds
    assert_accounted(tmp_path, kinds)


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("networking.istio.io/v1", "VirtualServce"),
        ("networking.istio.io/v1alpha1", "VirtualService"),  # a version Istio never served
        ("security.istio.io/v1", "AuthorisationPolicy"),
        ("gateway.networking.k8s.io/v1", "HttpRoute"),
        ("v1", "Servce"),
        ("apps/v1", "Deploymnet"),
    ],
)
def test_a_misspelt_kind_in_a_known_group_is_an_error(
    tmp_path: Path, api_version: str, kind: str
) -> None:
    group, _, version = api_version.rpartition("/")
    report = check_one(tmp_path, group, version, kind)
    [finding] = report.findings
    assert (finding.code, finding.severity, finding.kind) == ("unknown-kind", "error", kind)
    assert (finding.namespace, finding.name) == ("shop", "one")
    assert group in KNOWN_GROUPS


def test_another_crd_is_information(tmp_path: Path) -> None:
    report = check_one(tmp_path, "cert-manager.io", "v1", "Certificate")
    [finding] = report.findings
    assert (finding.code, finding.severity) == ("unknown-kind", "info")
    assert report.exit_code(Severity.ERROR) == 0


LIST = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: settings
      namespace: shop
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata:
      name: reviews
      namespace: shop
    spec:
      hosts: [reviews]
      http:
        - route:
            - destination:
                host: reviews
                subset: v9
"""


def test_list_items_are_documents_with_their_own_lines(tmp_path: Path) -> None:
    tmp_path.joinpath("list.yaml").write_text(LIST, encoding="utf-8")
    report = check_files(directory_files(tmp_path), CheckOptions(cache_dir=None))
    [listed] = report.not_checked
    assert (listed.kind, listed.name) == ("ConfigMap", "settings")
    subset = [f for f in report.findings if f.code == "subset-not-found"]
    assert [(f.kind, f.name, f.field) for f in subset] == [
        ("VirtualService", "reviews", "items[1].spec.http[0].route[0].destination.subset")
    ]
    assert subset[0].line == LIST.splitlines().index("                subset: v9") + 1
