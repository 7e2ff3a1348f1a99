"""Istio annotations (istioctl analyze's IST0107, IST0108, IST0125, IST0135): what a team writes
on its Services, workloads and pod templates, judged as Istio judges it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.checks.annotation_checks import VALIDATORS
from reconciler.checks.istio_annotations import ANNOTATIONS

from .annotation_cases import (
    EXPORT_TO,
    INJECT,
    PROXY_CONFIG,
    cart,
    object_annotations,
    pod_annotations,
)
from .mesh import check_tree, codes, line_of, only

FILE = "shop/cart.yaml"


def check(tmp_path: Path, text: str) -> list[str]:
    return codes(check_tree(tmp_path, {FILE: text}))


def test_misspelt_annotation_is_unknown_and_named(tmp_path: Path) -> None:
    text = cart(template=pod_annotations('sidecar.istio.io/injekt: "false"'))
    report = check_tree(tmp_path, {FILE: text})
    finding = only(report, "unknown-annotation")
    assert codes(report) == ["unknown-annotation"]
    assert finding.istio_code == "IST0108"
    assert finding.severity == "warning"
    assert finding.message == (
        "Unknown annotation: sidecar.istio.io/injekt; did you mean sidecar.istio.io/inject?"
    )
    assert (finding.kind, finding.name) == ("Deployment", "cart")
    assert finding.line == line_of(text, "injekt")


def test_label_written_as_annotation_is_named_a_label(tmp_path: Path) -> None:
    text = cart(service=object_annotations("topology.istio.io/network: west"))
    finding = only(check_tree(tmp_path, {FILE: text}), "unknown-annotation")
    assert finding.message.endswith("it is an Istio label: set it under labels, not annotations")
    assert finding.field == 'metadata.annotations["topology.istio.io/network"]'


def test_pod_annotation_on_deployment_says_where_it_belongs(tmp_path: Path) -> None:
    text = cart(metadata=object_annotations(PROXY_CONFIG))
    finding = only(check_tree(tmp_path, {FILE: text}), "misplaced-annotation")
    assert finding.message == (
        "Misplaced annotation: proxy.istio.io/config can only be applied to Pod; "
        "the pods take it from spec.template.metadata.annotations"
    )
    assert finding.line == line_of(text, "proxy.istio.io/config")


def test_export_to_annotation_on_virtual_service_points_at_spec_export_to(
    tmp_path: Path,
) -> None:
    text = (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata:\n"
        "  name: cart\n"
        "  namespace: shop\n"
        f"{object_annotations(EXPORT_TO)}"
        "spec:\n"
        "  hosts: [cart]\n"
        "  http:\n"
        "    - route:\n"
        "        - destination:\n"
        "            host: cart\n"
    )
    finding = only(check_tree(tmp_path, {FILE: cart() + "---\n" + text}), "misplaced-annotation")
    assert finding.kind == "VirtualService"
    assert finding.message.endswith("; a VirtualService sets spec.exportTo")


def test_deprecated_on_the_deployment_is_also_misplaced(tmp_path: Path) -> None:
    """istioctl's own case (misannotated.yaml): both messages, on the annotation's line."""
    text = cart(metadata=object_annotations("sidecar.istio.io/statsInclusionPrefixes: cluster"))
    report = check_tree(tmp_path, {FILE: text})
    assert sorted(codes(report)) == ["deprecated-annotation", "misplaced-annotation"]
    assert {f.line for f in report.findings} == {line_of(text, "statsInclusionPrefixes")}
    assert only(report, "deprecated-annotation").severity == "info"


def test_inject_annotation_is_deprecated_in_favour_of_the_label(tmp_path: Path) -> None:
    finding = only(
        check_tree(tmp_path, {FILE: cart(template=pod_annotations(INJECT))}),
        "deprecated-annotation",
    )
    assert finding.message == (
        'Annotation "sidecar.istio.io/inject" has been deprecated in favor of the '
        '"sidecar.istio.io/inject" label and may not work in future Istio versions.'
    )


def test_inject_annotation_beside_the_label_is_not_reported(tmp_path: Path) -> None:
    text = cart(template=pod_annotations(INJECT), labels=f"        {INJECT}\n")
    assert check(tmp_path, text) == []


COMMON = [
    INJECT.replace("inject", "rewriteAppHTTPProbers"),
    "proxy.istio.io/config: |\n          holdApplicationUntilProxyStart: true\n"
    '          proxyMetadata:\n            ISTIO_META_DNS_CAPTURE: "true"',
    'traffic.sidecar.istio.io/excludeOutboundPorts: "5432, 6379"',
    'traffic.sidecar.istio.io/includeInboundPorts: "*"',
    'traffic.sidecar.istio.io/excludeInboundPorts: "15020"',
    "traffic.sidecar.istio.io/includeOutboundIPRanges: 10.0.0.0/8,172.16.0.0/12",
    "traffic.sidecar.istio.io/excludeOutboundIPRanges: 169.254.169.254/32",
    "traffic.sidecar.istio.io/includeOutboundPorts: 443,8443",
    "sidecar.istio.io/proxyCPU: 100m",
    "sidecar.istio.io/proxyMemoryLimit: 1Gi",
    "sidecar.istio.io/interceptionMode: TPROXY",
    'readiness.status.sidecar.istio.io/periodSeconds: "10"',
    'prometheus.istio.io/merge-metrics: "false"',
    "inject.istio.io/templates: gateway",
    "sidecar.istio.io/status: anything, written by the injector",
    "istio.io/rev: canary",
    "kiali.io/dashboards: go",
    "meshrc.io/ignore: subset-selects-nothing",
    "kubectl.kubernetes.io/restartedAt: '2024-01-01T00:00:00Z'",
]


def test_common_annotations_in_their_places_are_silent(tmp_path: Path) -> None:
    text = cart(
        service=object_annotations(EXPORT_TO, "traffic.istio.io/nodeSelector: '{}'"),
        metadata=object_annotations("galley.istio.io/analyze-suppress: IST0103", "istio.io/rev: x"),
        template=pod_annotations(*COMMON),
    )
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n" + object_annotations(
        "topology.istio.io/controlPlaneClusters: '*'"
    )
    assert check(tmp_path, text + "---\n" + namespace) == []


def test_annotations_holding_only_a_comment(tmp_path: Path) -> None:
    comment = "  annotations:\n    # none yet\n"
    text = (
        cart(service=comment, metadata=comment, template="      annotations:\n        # none\n")
        + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
        + comment
        + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: shop\n"
        + comment
    )
    assert check(tmp_path, text) == []


def test_annotations_of_a_pod_object(tmp_path: Path) -> None:
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\n  namespace: shop\n"
        + object_annotations('readiness.status.sidecar.istio.io/initialDelaySeconds: "-1"')
    )
    finding = only(check_tree(tmp_path, {FILE: pod}), "invalid-annotation")
    assert (finding.kind, finding.name) == ("Pod", "debug")
    assert finding.line == line_of(pod, "initialDelaySeconds")


def test_item_of_a_list_is_located(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: shop\n"
        "      annotations:\n        sidecar.istio.io/proxyCPU: 100m\n"
    )
    finding = only(check_tree(tmp_path, {FILE: text}), "misplaced-annotation")
    assert finding.field == 'items[0].metadata.annotations["sidecar.istio.io/proxyCPU"]'
    assert finding.line == line_of(text, "proxyCPU")


def test_meshrc_ignore_on_a_deployment_silences_it(tmp_path: Path) -> None:
    text = cart(metadata=object_annotations(EXPORT_TO, "meshrc.io/ignore: misplaced-annotation"))
    assert check(tmp_path, text) == []


def test_istio_gateway_is_not_the_gateway_api_gateway(tmp_path: Path) -> None:
    gateway = (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n"
        "  name: shop\n  namespace: shop\n"
        + object_annotations("gateway.istio.io/service-account: shop-gw")
        + "spec:\n  servers:\n    - port: {number: 80, name: http, protocol: HTTP}\n"
        "      hosts: ['*']\n"
    )
    finding = only(check_tree(tmp_path, {FILE: gateway}), "misplaced-annotation")
    assert finding.message.endswith("can only be applied to Gateway (gateway.networking.k8s.io)")


def test_data_is_istio_apis() -> None:
    assert len(ANNOTATIONS) == 68
    assert ANNOTATIONS["networking.istio.io/exportTo"].kinds == ("Service",)
    assert ANNOTATIONS["sidecar.istio.io/inject"].deprecated
    assert set(VALIDATORS) <= set(ANNOTATIONS)


VALUES = [
    # (annotation, value, valid): the injector's validation (pkg/kube/inject/validate.go)
    ("readiness.status.sidecar.istio.io/failureThreshold", "3", True),
    ("readiness.status.sidecar.istio.io/failureThreshold", "+3", False),
    ("readiness.status.sidecar.istio.io/failureThreshold", "4294967296", False),
    ("prometheus.istio.io/merge-metrics", "True", True),
    ("prometheus.istio.io/merge-metrics", "yes", False),
    ("sidecar.istio.io/interceptionMode", "redirect", False),
    ("status.sidecar.istio.io/port", " 15020 ", True),
    ("status.sidecar.istio.io/port", "65536", False),
    ("traffic.sidecar.istio.io/includeInboundPorts", "", True),
    ("traffic.sidecar.istio.io/excludeInboundPorts", "*", False),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", "5432,", False),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "", True),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "*", False),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.1.2.3/8", True),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "::/0,fd00::/8", True),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0", False),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/33", False),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/08", False),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "010.0.0.0/8", False),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "fe80::1%eth0/64", False),
    ("traffic.sidecar.istio.io/excludeInterfaces", "eth0, net1", True),
    ("traffic.sidecar.istio.io/excludeInterfaces", "eth0,,net1", False),
    ("traffic.sidecar.istio.io/excludeInterfaces", "averyverylongname0", False),
    ("traffic.sidecar.istio.io/excludeInterfaces", "0eth", False),
    ("sidecar.istio.io/proxyMemory", "128Mi", True),
    ("sidecar.istio.io/proxyCPU", "1.5", True),
    ("sidecar.istio.io/proxyCPU", "2e3", True),
    ("sidecar.istio.io/proxyCPU", "100 m", False),
    ("sidecar.istio.io/proxyMemory", "128MB", False),
    ("sidecar.istio.io/proxyMemory", "", False),
    ("proxy.istio.io/config", "", True),
    ("proxy.istio.io/config", "{}", True),
    ("proxy.istio.io/config", "unknownField: 1", True),
    ("proxy.istio.io/config", "statusPort: 15021", True),
    ("proxy.istio.io/config", "discoveryAddress: istiod.istio-system.svc:15012", True),
    ("proxy.istio.io/config", "discoveryAddress: '[fd00::1]:15012'", True),
    ("proxy.istio.io/config", "holdApplicationUntilProxyStart=true", False),
    ("proxy.istio.io/config", "{holdApplicationUntilProxyStart: true", False),
    ("proxy.istio.io/config", "- concurrency: 2", False),
    ("proxy.istio.io/config", "proxyAdminPort: 0", False),
    ("proxy.istio.io/config", "discoveryAddress: istiod", False),
    ("proxy.istio.io/config", "discoveryAddress: ''", False),
]


@pytest.mark.parametrize(("name", "value", "valid"), VALUES)
def test_values_as_the_injector_validates_them(name: str, value: str, valid: bool) -> None:
    assert (VALIDATORS[name](value) is None) == valid
