"""Manifests for the render tests: a mesh that uses every routing feature meshrc renders."""

from __future__ import annotations

from pathlib import Path

from reconciler.model.snapshot import Snapshot, build_snapshot
from reconciler.source.loading import directory_files, load_files

SHOP = """\
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec:
  selector: {app: ratings}
  ports: [{name: http-web, port: 9080}, {name: grpc, port: 9090}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 2s}
      http: {http1MaxPendingRequests: 10, maxRetries: 3, idleTimeout: 30s}
    outlierDetection:
      {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}
    portLevelSettings:
      - port: {number: 9080}
        loadBalancer: {simple: RANDOM}
  subsets:
    - name: v1
      labels: {version: v1}
    - name: v2
      labels: {version: v2}
      trafficPolicy:
        connectionPool:
          tcp: {maxConnections: 1}
          http: {http1MaxPendingRequests: 1}
    - name: v3
      labels: {version: v3}
      trafficPolicy:
        loadBalancer:
          consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 64}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
    - name: jason
      match:
        - headers: {end-user: {exact: jason}}
        - queryParams: {canary: {exact: "yes"}}
      route:
        - destination: {host: reviews, subset: v2}
      timeout: 2s
      retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,409"}
    - match:
        - uri: {prefix: /old}
      redirect: {uri: /new, authority: reviews.shop, redirectCode: 302}
    - match:
        - uri: {exact: /teapot}
      directResponse: {status: 418, body: {string: short and stout}}
    - match:
        - uri: {regex: "/v[0-9]+/.*"}
          ignoreUriCase: true
        - withoutHeaders: {x-debug: {}}
          method: {exact: POST}
      rewrite: {uri: /api/, authority: reviews-internal}
      headers:
        request: {set: {x-route: rewritten}, remove: [x-secret]}
        response: {add: {x-served-by: meshrc}}
      fault:
        delay: {fixedDelay: 1.5s, percentage: {value: 10}}
        abort: {httpStatus: 503, percentage: {value: 0.5}}
      route:
        - destination: {host: reviews, subset: v1}
      retries: {attempts: 0}
      mirror: {host: ratings, port: {number: 9080}}
      mirrorPercentage: {value: 25}
      corsPolicy:
        allowOrigins: [{exact: "https://shop.example.com"}]
        allowMethods: [GET, POST]
        maxAge: 24h
    - route:
        - destination: {host: reviews, subset: v1}
          weight: 75
        - destination: {host: reviews, subset: v3}
          weight: 25
          headers: {request: {set: {x-canary: "true"}}}
        - destination: {host: reviews, subset: v2}
          weight: 0
    - route:
        - destination: {host: reviews, subset: v2}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: shop}
spec:
  hosts: [payments.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 8443, name: http, protocol: HTTP, targetPort: 443}]
  endpoints:
    - address: 192.0.2.10
    - address: 192.0.2.11
      ports: {http: 9443}
      weight: 3
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: search, namespace: shop}
spec:
  hosts: [search.example.com]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: anything, namespace: shop}
spec:
  hosts: [legacy.internal]
  resolution: NONE
  location: MESH_INTERNAL
  ports: [{number: 7000, name: tcp, protocol: TCP}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["shop/*.example.com", "other/*"]
    - port: {number: 8080, name: http-alt, protocol: HTTP}
      hosts: ["admin.example.com"]
      tls: {httpsRedirect: true}
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: ["*.example.com"]
      tls: {mode: SIMPLE, credentialName: shop-cert}
    - port: {number: 9000, name: http-empty, protocol: HTTP}
      hosts: ["nobody.example.com"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: storefront, namespace: shop}
spec:
  hosts: [www.example.com, admin.example.com]
  gateways: [web]
  http:
    - route:
        - destination: {host: reviews}
    - match:
        - uri: {prefix: /ratings}
      route:
        - destination: {host: ratings, port: {number: 9080}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  gateways: [shop/web, mesh]
  http:
    - match:
        - uri: {prefix: /v1}
          gateways: [shop/web]
      route:
        - destination: {host: ratings, port: {number: 9080}}
    - match:
        - uri: {prefix: /mesh-only}
          gateways: [mesh]
      route:
        - destination: {host: reviews}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: passthrough, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 8443, name: tls, protocol: TLS}
      hosts: ["*.internal.example.com"]
      tls: {mode: PASSTHROUGH}
    - port: {number: 5432, name: tcp, protocol: TCP}
      hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: internal, namespace: shop}
spec:
  hosts: [db.internal.example.com]
  gateways: [passthrough]
  tls:
    - match: [{sniHosts: [db.internal.example.com]}]
      route: [{destination: {host: ratings, port: {number: 9090}}}]
  tcp:
    - match: [{port: 5432}]
      route:
        - {destination: {host: ratings, port: {number: 9080}}, weight: 50}
        - {destination: {host: reviews}, weight: 50}
"""


def write_mesh(root: Path, text: str = SHOP) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mesh.yaml").write_text(text, encoding="utf-8")
    return root


def snapshot_of(root: Path) -> Snapshot:
    loaded = load_files(directory_files(root))
    snapshot, findings = build_snapshot(loaded.documents)
    assert not loaded.findings and not findings, [f.message for f in [*loaded.findings, *findings]]
    return snapshot
