"""Sidecar checks as a user meets them: istioctl's SelectorAnalyzer cases, meshrc's egress-host
check, and the configurations that must stay quiet (``*/*``, the mesh-wide default beside a
namespace's own, namespace-wide imports)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.checks.sidecars import check_sidecars
from reconciler.model.snapshot import build_snapshot
from reconciler.source.loading import Document

from .mesh import check_tree, codes


def sidecar(name: str, namespace: str = "shop", spec: str = "") -> str:
    return (
        "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
        + (f"spec:\n{spec}" if spec else "")
    )


def egress(*hosts: str) -> str:
    return "  egress:\n    - hosts:\n" + "".join(f"        - '{h}'\n" for h in hosts)


def selector(**labels: str) -> str:
    return "  workloadSelector:\n    labels:\n" + "".join(
        f"      {k}: {v}\n" for k, v in labels.items()
    )


def found(tmp_path: Path, text: str) -> list[tuple[str, str | None, str | None]]:
    """(code, Sidecar namespace/name, field) of every finding."""
    report = check_tree(tmp_path, {"shop/sidecars.yaml": text})
    return sorted((f.code, f"{f.namespace}/{f.name}", f.field) for f in report.findings)


# --- istioctl's sidecar.SelectorAnalyzer (its testdata, re-told on meshrc's base mesh) ------


def test_selector_cases_as_istioctl_reports_them(tmp_path: Path) -> None:
    text = (
        sidecar("productpage", spec=selector(app="productpage") + egress("./*"))
        + sidecar("bogus", spec=selector(app="bogus") + egress("./*"))
        + sidecar("other-ns", "web", selector(app="reviews") + egress("./*"))
        + sidecar("dupe-1", spec=selector(app="reviews") + egress("./*"))
        + sidecar("dupe-2", spec=selector(app="reviews") + egress("./*"))
        + sidecar("overlap-1", spec=selector(app="ratings") + egress("./*"))
        + sidecar("overlap-2", spec=selector(version="v1") + egress("./*"))
    )
    assert found(tmp_path, text) == [
        ("conflicting-sidecar-selectors", "shop/dupe-1", "metadata.name"),
        ("conflicting-sidecar-selectors", "shop/dupe-2", "metadata.name"),
        ("conflicting-sidecar-selectors", "shop/overlap-1", "metadata.name"),
        ("conflicting-sidecar-selectors", "shop/overlap-2", "metadata.name"),
        ("sidecar-selector-matches-nothing", "shop/bogus", "spec.workloadSelector.labels"),
        ("sidecar-selector-matches-nothing", "web/other-ns", "spec.workloadSelector.labels"),
    ]


def test_the_conflict_names_both_sidecars_and_the_workload(tmp_path: Path) -> None:
    report = check_tree(
        tmp_path,
        {
            "shop/sidecars.yaml": sidecar("a", spec=selector(app="ratings"))
            + sidecar("b", spec=selector(version="v1"))
        },
    )
    messages = {f.message for f in report.findings}
    assert messages == {
        "the Sidecars a, b of namespace shop select the same workload (app=ratings, version=v1)"
        ": istiod applies only one of them, which one is undefined"
    }


def test_two_namespace_defaults_conflict(tmp_path: Path) -> None:
    text = sidecar("one", spec=egress("./*")) + sidecar("two", spec=egress("*/*"))
    assert codes(check_tree(tmp_path, {"s.yaml": text})) == ["multiple-default-sidecars"] * 2


def test_an_empty_selector_is_no_selector(tmp_path: Path) -> None:
    text = sidecar("one", spec="  workloadSelector: {}\n" + egress("./*")) + sidecar(
        "two", spec="  workloadSelector:\n    labels: {}\n" + egress("./*")
    )
    assert codes(check_tree(tmp_path, {"s.yaml": text})) == ["multiple-default-sidecars"] * 2


def test_ambient_namespaces_make_sidecars_ineffective(tmp_path: Path) -> None:
    namespace = (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
        "    istio.io/dataplane-mode: ambient\n"
    )
    text = (
        namespace
        + sidecar("one", spec=egress("./*"))
        + sidecar("two", spec=egress("./*"))
        + sidecar("scoped", spec=selector(app="reviews"))
    )
    # no multiple-default-sidecars: in ambient mode neither applies (as istioctl)
    assert found(tmp_path, text) == [
        ("ineffective-policy", "shop/one", "metadata.name"),
        ("ineffective-policy", "shop/scoped", "metadata.name"),
        ("ineffective-policy", "shop/two", "metadata.name"),
    ]
    injected = namespace.replace("ambient\n", "ambient\n    istio.io/rev: canary\n")
    assert found(tmp_path / "rev", injected + sidecar("one", spec=egress("./*"))) == []


# --- false positives: what must stay quiet -----------------------------------------------


@pytest.mark.parametrize(
    "hosts",
    [
        ("*/*",),
        ("./*",),
        ("~/*",),
        ("istio-system/*",),
        ("shop/*",),
        ("*/reviews.shop.svc.cluster.local",),
        ("./ratings.shop.svc.cluster.local",),
        ("*/*.example.org",),  # the ServiceEntry api.example.org
        ("shop/*.shop.svc.cluster.local",),
        ("~shop/reviews.shop.svc.cluster.local", "*/*"),
    ],
)
def test_egress_hosts_that_import_something_are_quiet(tmp_path: Path, hosts: tuple[str]) -> None:
    assert found(tmp_path, sidecar("default", spec=egress(*hosts))) == []


def test_a_mesh_virtual_service_host_is_imported_a_gateway_ones_is_not(tmp_path: Path) -> None:
    """istiod imports VirtualServices by host too: a mesh VirtualService for a name no service
    has is something to import; shop.example.com is bound to a Gateway only, so it is not."""
    mesh_route = (
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: api, namespace: shop}\n"
        "spec:\n  hosts: [api.internal]\n"
        "  http: [{route: [{destination: {host: reviews}}]}]\n"
    )
    text = mesh_route + sidecar("default", spec=egress("./api.internal", "*/shop.example.com"))
    assert found(tmp_path, text) == [
        ("sidecar-egress-host-not-found", "shop/default", "spec.egress[0].hosts[1]")
    ]


def test_the_mesh_default_beside_a_namespace_sidecar_does_not_conflict(tmp_path: Path) -> None:
    text = sidecar("default", "istio-system", egress("./*", "istio-system/*")) + sidecar(
        "default", spec=egress("./*", "istio-system/*")
    )
    assert found(tmp_path, text) == []


def test_the_mesh_default_dot_is_every_namespace(tmp_path: Path) -> None:
    """In the root namespace's default, ``./reviews...`` is each proxy's own namespace: shop
    has it, so it imports something."""
    text = sidecar("default", "istio-system", egress("./reviews.shop.svc.cluster.local"))
    assert found(tmp_path, text) == []
    scoped = sidecar(
        "gw", "istio-system", selector(istio="ingressgateway") + egress("./reviews.x.y")
    )
    assert found(tmp_path / "scoped", scoped) == [
        ("sidecar-egress-host-not-found", "istio-system/gw", "spec.egress[0].hosts[0]")
    ]


# --- meshrc's egress-host check ------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "./reveiws.shop.svc.cluster.local",  # typo
        "./reviews",  # short names are not expanded
        "web/reviews.shop.svc.cluster.local",  # the service is in shop, not web
        "*/*.example.net",  # a wildcard nothing is under
        "shpo/*",  # a namespace the files do not have
    ],
)
def test_egress_hosts_that_import_nothing_warn(tmp_path: Path, host: str) -> None:
    assert found(tmp_path, sidecar("default", spec=egress(host))) == [
        ("sidecar-egress-host-not-found", "shop/default", "spec.egress[0].hosts[0]")
    ]


def test_a_host_exported_elsewhere_is_not_imported(tmp_path: Path) -> None:
    private = (
        "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        "metadata: {name: private, namespace: shop}\n"
        "spec:\n  hosts: [private.example.org]\n  exportTo: ['.']\n  resolution: DNS\n"
        "  ports: [{number: 443, name: https, protocol: HTTPS}]\n"
    )
    text = private + sidecar("default", "web", egress("*/private.example.org"))
    assert found(tmp_path, text) == [
        ("sidecar-egress-host-not-found", "web/default", "spec.egress[0].hosts[0]")
    ]


def test_the_short_name_hint(tmp_path: Path) -> None:
    report = check_tree(tmp_path, {"s.yaml": sidecar("default", spec=egress("./reviews"))})
    (finding,) = report.findings
    assert finding.message.endswith(
        "(egress hosts are not expanded: write reviews.<namespace>.svc.cluster.local)"
    )


# --- the model and the other findings -----------------------------------------------------


def test_an_egress_host_without_namespace_is_a_schema_error(tmp_path: Path) -> None:
    report = check_tree(tmp_path, {"s.yaml": sidecar("default", spec=egress("reviews"))})
    assert [(f.code, f.field) for f in report.findings] == [("schema", "spec.egress[0].hosts[0]")]
    assert "namespace/dnsName" in report.findings[0].message


def test_egress_proxy_is_reported_as_ignored(tmp_path: Path) -> None:
    spec = (
        "  outboundTrafficPolicy:\n    mode: ALLOW_ANY\n"
        "    egressProxy:\n      host: egress.example.org\n      port:\n        number: 80\n"
    )
    assert found(tmp_path, sidecar("default", spec=spec)) == [
        ("deprecated", "shop/default", "spec.outboundTrafficPolicy.egressProxy")
    ]


def test_sidecars_are_checked_not_listed(tmp_path: Path) -> None:
    report = check_tree(tmp_path / "with", {"s.yaml": sidecar("default", spec=egress("*/*"))})
    assert report.findings == []
    assert report.not_checked == []
    assert report.checked_resources == check_tree(tmp_path / "base", {}).checked_resources + 1


def test_the_checks_stay_linear(tmp_path: Path) -> None:
    """2,000 namespaces, each with a Service, a workload, a default Sidecar importing its own
    host, a wildcard import and a workload Sidecar: well under a second of checks."""
    documents = []
    for n in range(2000):
        ns = f"ns{n}"
        documents += [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "svc", "namespace": ns},
                "spec": {"selector": {"app": "svc"}, "ports": [{"port": 80}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "pod", "namespace": ns, "labels": {"app": "svc"}},
            },
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "Sidecar",
                "metadata": {"name": "default", "namespace": ns},
                "spec": {
                    "egress": [
                        {"hosts": [f"./svc.{ns}.svc.cluster.local", "*/*.ns1.svc.cluster.local"]}
                    ]
                },
            },
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "Sidecar",
                "metadata": {"name": "scoped", "namespace": ns},
                "spec": {"workloadSelector": {"labels": {"app": "svc"}}},
            },
        ]
    docs = [Document("big.yaml", i, i + 1, body) for i, body in enumerate(documents)]
    snapshot, findings = build_snapshot(docs)
    assert findings == []
    started = time.perf_counter()
    result = list(check_sidecars(snapshot))
    elapsed = time.perf_counter() - started
    assert result == []
    assert elapsed < 1.0, f"{elapsed:.2f} s"
