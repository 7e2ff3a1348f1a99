"""A small, clean mesh that every check test starts from, and helpers to run and read checks.

``BASE`` has Services, workloads, DestinationRules, VirtualServices, a Gateway with its pods
and a ServiceEntry across three namespaces (``shop``, ``web``, ``istio-system``) and produces no
finding at all; a test adds (or replaces) files and asserts exactly what changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.checking import CheckOptions, check_files
from reconciler.findings import Finding, Report
from reconciler.source.loading import directory_files

REVIEWS = """\
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: shop
spec:
  selector:
    app: reviews
  ports:
    - name: http
      port: 9080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
  namespace: shop
spec:
  selector:
    matchLabels: {app: reviews, version: v1}
  template:
    metadata:
      labels: {app: reviews, version: v1}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v2
  namespace: shop
spec:
  selector:
    matchLabels: {app: reviews, version: v2}
  template:
    metadata:
      labels: {app: reviews, version: v2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: shop
spec:
  host: reviews
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL
  subsets:
    - name: v1
      labels:
        version: v1
    - name: v2
      labels:
        version: v2
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
spec:
  hosts:
    - reviews
  http:
    - name: canary
      match:
        - headers:
            x-canary:
              exact: "on"
      route:
        - destination:
            host: reviews
            subset: v2
    - name: default
      route:
        - destination:
            host: reviews
            subset: v1
          weight: 90
        - destination:
            host: reviews
            subset: v2
          weight: 10
"""

RATINGS = """\
apiVersion: v1
kind: Service
metadata:
  name: ratings
  namespace: shop
spec:
  selector:
    app: ratings
  ports:
    - name: http
      port: 9080
    - name: grpc
      port: 9090
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ratings
  namespace: shop
spec:
  selector:
    matchLabels: {app: ratings}
  template:
    metadata:
      labels: {app: ratings, version: v1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
  namespace: shop
spec:
  hosts:
    - ratings.shop.svc.cluster.local
  http:
    - route:
        - destination:
            host: ratings.shop.svc.cluster.local
            port:
              number: 9080
"""

FRONTEND = """\
apiVersion: v1
kind: Service
metadata:
  name: productpage
  namespace: shop
spec:
  selector:
    app: productpage
  ports:
    - name: http
      port: 9080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: productpage
  namespace: shop
spec:
  selector:
    matchLabels: {app: productpage}
  template:
    metadata:
      labels: {app: productpage}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: frontend
  namespace: shop
spec:
  hosts:
    - shop.example.com
  gateways:
    - istio-system/shop-gateway
  http:
    - match:
        - uri:
            prefix: /api
      route:
        - destination:
            host: reviews
            subset: v1
    - route:
        - destination:
            host: productpage
"""

GATEWAY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  selector:
    matchLabels: {istio: ingressgateway}
  template:
    metadata:
      labels: {istio: ingressgateway, app: istio-ingressgateway}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: shop-gateway
  namespace: istio-system
spec:
  selector:
    istio: ingressgateway
  servers:
    - port:
        number: 80
        name: http
        protocol: HTTP
      hosts:
        - shop/shop.example.com
"""

EXTERNAL = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-api
  namespace: shop
spec:
  hosts:
    - api.example.org
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
    - number: 443
      name: https
      protocol: HTTPS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: external-api
  namespace: shop
spec:
  host: api.example.org
  trafficPolicy:
    tls:
      mode: SIMPLE
      sni: api.example.org
      caCertificates: /etc/ssl/certs/ca-certificates.crt
"""

BASE: dict[str, str] = {
    "shop/reviews.yaml": REVIEWS,
    "shop/ratings.yaml": RATINGS,
    "shop/frontend.yaml": FRONTEND,
    "istio-system/gateway.yaml": GATEWAY,
    "shop/external.yaml": EXTERNAL,
}


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def check_tree(
    root: Path,
    files: Mapping[str, str | bytes],
    *,
    base: bool = True,
    options: CheckOptions | None = None,
) -> Report:
    """Write ``BASE`` (unless ``base`` is false) overlaid with ``files`` and check the folder."""
    write_tree(root, {**(BASE if base else {}), **files})
    return check_files(directory_files(root), options or CheckOptions(cache_dir=None))


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` (which must occur exactly once) replaced: a fixture edit that
    cannot silently miss."""
    assert text.count(old) == 1, f"{old!r} must occur once in the fixture"
    return text.replace(old, new)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the ``occurrence``-th line of ``text`` that contains ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(found) >= occurrence, f"{needle!r} occurs {len(found)} times in the fixture"
    return found[occurrence - 1]


def codes(report: Report) -> list[str]:
    return [f.code for f in report.findings]


def only(report: Report, code: str) -> Finding:
    """The one finding of ``code``; fails with the whole report when there are none or more."""
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, f"expected one {code} finding, got: {_show(report)}"
    return found[0]


def _show(report: Report) -> str:
    return (
        "\n".join(
            f"  {f.code} {f.kind} {f.namespace}/{f.name} {f.file}:{f.line} {f.field}: {f.message}"
            for f in report.findings
        )
        or "  (no findings)"
    )
