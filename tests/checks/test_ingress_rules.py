"""IST0140: a gateway's route to a host the mesh splits by subset, without a subset."""

from __future__ import annotations

from pathlib import Path

import pytest

from .mesh import FRONTEND, REVIEWS, check_tree, codes, only, replace_once

NO_SUBSET = replace_once(FRONTEND, "            subset: v1\n", "")
"""The frontend VirtualService (bound to the shop gateway) sends /api to reviews, which the
mesh's VirtualService ``shop/reviews`` splits between v1 and v2."""


def frontend_codes(tmp_path: Path, text: str) -> list[str]:
    return codes(check_tree(tmp_path, {"shop/frontend.yaml": text}))


def test_the_finding_names_the_splitting_virtual_service(tmp_path: Path) -> None:
    finding = only(
        check_tree(tmp_path, {"shop/frontend.yaml": NO_SUBSET}),
        "ingress-route-rules-not-affected",
    )
    assert (finding.severity, finding.istio_code) == ("warning", "IST0140")
    assert "VirtualService shop/reviews" in finding.message


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("reviews.shop.svc.cluster.local", ["ingress-route-rules-not-affected"]),
        ("productpage", []),
    ],
)
def test_hosts_are_compared_fully_qualified(tmp_path: Path, host: str, expected: list[str]) -> None:
    text = replace_once(NO_SUBSET, "host: reviews\n", f"host: {host}\n")
    assert frontend_codes(tmp_path, text) == expected


def test_a_short_host_means_the_route_namespace(tmp_path: Path) -> None:
    """``reviews`` written in namespace web is web's reviews, which the mesh does not split."""
    text = NO_SUBSET.replace("namespace: shop", "namespace: web").replace(
        "host: productpage", "host: productpage.shop.svc.cluster.local"
    )
    assert "ingress-route-rules-not-affected" not in frontend_codes(tmp_path, text)


def test_a_mesh_virtual_service_is_not_a_gateway_route(tmp_path: Path) -> None:
    text = replace_once(NO_SUBSET, "    - istio-system/shop-gateway\n", "    - mesh\n")
    assert "ingress-route-rules-not-affected" not in frontend_codes(tmp_path, text)


def test_a_split_for_gateways_only_does_not_count(tmp_path: Path) -> None:
    gateway_only = replace_once(
        REVIEWS,
        "spec:\n  hosts:\n    - reviews\n",
        "spec:\n  hosts:\n    - reviews\n  gateways:\n    - istio-system/shop-gateway\n",
    )
    report = check_tree(
        tmp_path, {"shop/frontend.yaml": NO_SUBSET, "shop/reviews.yaml": gateway_only}
    )
    assert "ingress-route-rules-not-affected" not in codes(report)


def test_a_virtual_service_bound_to_both_does_not_contradict_itself(tmp_path: Path) -> None:
    """Its own subset rules apply to the gateway's traffic too."""
    both = replace_once(
        REVIEWS,
        "spec:\n  hosts:\n    - reviews\n",
        "spec:\n  hosts:\n    - reviews\n"
        "  gateways:\n    - mesh\n    - istio-system/shop-gateway\n",
    )
    both = replace_once(
        both,
        "    - name: canary\n",
        "    - name: plain\n      match:\n        - uri:\n            prefix: /plain\n"
        "      route:\n        - destination:\n            host: reviews\n    - name: canary\n",
    )
    report = check_tree(tmp_path, {"shop/reviews.yaml": both})
    assert "ingress-route-rules-not-affected" not in codes(report)
