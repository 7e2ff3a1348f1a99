"""Deprecated fields and forms (IST0002): each is reported at its own line, and the field that
replaced it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from .mesh import FRONTEND, check_tree, codes, line_of, only

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: mobile
  namespace: shop
spec:
  hosts:
    - mobile
  http:
    - route:
        - destination:
            host: reviews
{rule}"""

DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: productpage
  namespace: shop
spec:
  host: productpage
  trafficPolicy:
{policy}"""

CASES = [
    # (id, template, old, new, field, needle)
    (
        "fault.delay.percent",
        VS,
        "      fault:\n        delay:\n          fixedDelay: 2s\n          percent: 10\n",
        "      fault:\n        delay:\n          fixedDelay: 2s\n          percentage:\n"
        "            value: 10\n",
        "spec.http[0].fault.delay.percent",
        "percent: 10",
    ),
    (
        "mirrorPercent",
        VS,
        "      mirror:\n        host: productpage\n      mirrorPercent: 5\n",
        "      mirror:\n        host: productpage\n      mirrorPercentage:\n        value: 5\n",
        "spec.http[0].mirrorPercent",
        "mirrorPercent: 5",
    ),
    (
        "mirror_percent",
        VS,
        "      mirror:\n        host: productpage\n      mirror_percent: 5\n",
        "      mirror:\n        host: productpage\n      mirrorPercentage:\n        value: 5\n",
        "spec.http[0].mirror_percent",
        "mirror_percent: 5",
    ),
    (
        "corsPolicy.allowOrigin",
        VS,
        "      corsPolicy:\n        allowOrigin:\n          - https://shop.example.com\n",
        "      corsPolicy:\n        allowOrigins:\n          - exact: https://shop.example.com\n",
        "spec.http[0].corsPolicy.allowOrigin",
        "allowOrigin:",
    ),
    (
        "minimumRingSize",
        DR,
        "    loadBalancer:\n      consistentHash:\n        httpHeaderName: x-user\n"
        "        minimumRingSize: 1024\n",
        "    loadBalancer:\n      consistentHash:\n        httpHeaderName: x-user\n"
        "        ringHash:\n          minimumRingSize: 1024\n",
        "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize",
        "minimumRingSize: 1024",
    ),
    (
        "consecutiveErrors",
        DR,
        "    outlierDetection:\n      consecutiveErrors: 5\n",
        "    outlierDetection:\n      consecutive5xxErrors: 5\n",
        "spec.trafficPolicy.outlierDetection.consecutiveErrors",
        "consecutiveErrors: 5",
    ),
    (
        "warmupDurationSecs",
        DR,
        "    loadBalancer:\n      simple: LEAST_REQUEST\n      warmupDurationSecs: 30s\n",
        "    loadBalancer:\n      simple: LEAST_REQUEST\n      warmup:\n        duration: 30s\n",
        "spec.trafficPolicy.loadBalancer.warmupDurationSecs",
        "warmupDurationSecs: 30s",
    ),
]


@pytest.mark.parametrize(
    ("template", "old", "new", "field", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_deprecated_field(
    tmp_path: Path, template: str, old: str, new: str, field: str, needle: str
) -> None:
    key = "{rule}" if "{rule}" in template else "{policy}"
    text = template.replace(key, old)
    report = check_tree(tmp_path, {"case.yaml": text})
    finding = only(report, "deprecated")
    assert codes(report) == ["deprecated"]
    assert finding.field == field
    assert finding.line == line_of(text, needle)
    assert finding.istio_code == "IST0002"
    assert "is deprecated" in finding.message
    assert check_tree(tmp_path, {"case.yaml": template.replace(key, new)}).findings == []


def test_each_deprecated_field_is_reported(tmp_path: Path) -> None:
    rule = (
        "      fault:\n        delay:\n          fixedDelay: 2s\n          percent: 10\n"
        "      corsPolicy:\n        allowOrigin:\n          - https://a.example.com\n"
    )
    text = VS.replace("{rule}", rule)
    report = check_tree(tmp_path, {"case.yaml": text})
    assert [(f.code, f.field) for f in report.findings] == [
        ("deprecated", "spec.http[0].fault.delay.percent"),
        ("deprecated", "spec.http[0].corsPolicy.allowOrigin"),
    ]


@pytest.mark.parametrize(
    "reference", ["shop-gateway.istio-system", "shop-gateway.istio-system.svc.cluster.local"]
)
def test_legacy_gateway_reference(tmp_path: Path, reference: str) -> None:
    text = FRONTEND.replace("- istio-system/shop-gateway", f"- {reference}")
    assert text != FRONTEND
    finding = only(check_tree(tmp_path, {"shop/frontend.yaml": text}), "deprecated")
    assert (finding.name, finding.field) == ("frontend", "spec.gateways[0]")
    assert finding.line == line_of(text, reference)
    assert "write istio-system/shop-gateway" in finding.message
