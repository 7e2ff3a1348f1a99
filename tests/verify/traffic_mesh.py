"""A small mesh whose every rule is something the traffic tests prove through a real Envoy."""

from __future__ import annotations

SERVICES = "".join(
    f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: t}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 8080}}]
"""
    for name in ("web", "slow", "flaky", "guarded", "ejecting", "faulty")
)

MESH = (
    SERVICES
    + """---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: t}
spec:
  host: web
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
    - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: t}
spec:
  hosts: [web]
  http:
    - name: header
      match: [{headers: {x-user: {exact: jason}}}]
      route: [{destination: {host: web, subset: v2}}]
    - name: query
      match: [{queryParams: {beta: {exact: "1"}}}]
      route: [{destination: {host: web, subset: v3}}]
    - name: api-exact-before-prefix
      match: [{uri: {exact: /api/special}}]
      route: [{destination: {host: web, subset: v3}}]
    - name: api
      match: [{uri: {prefix: /api}}]
      route: [{destination: {host: web, subset: v2}}]
    - name: old
      match: [{uri: {prefix: /old}}]
      redirect: {uri: /new, authority: web.t.example, redirectCode: 308}
    - name: legacy
      match: [{uri: {prefix: /legacy/}}]
      rewrite: {uri: /v2/, authority: web-internal}
      route: [{destination: {host: web, subset: v1}}]
    - name: split
      route:
        - {destination: {host: web, subset: v1}, weight: 75}
        - {destination: {host: web, subset: v2}, weight: 25}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: slow, namespace: t}
spec:
  hosts: [slow]
  http:
    - route: [{destination: {host: slow}}]
      timeout: 500ms
      retries: {attempts: 0}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky, namespace: t}
spec:
  hosts: [flaky]
  http:
    - route: [{destination: {host: flaky}}]
      retries: {attempts: 2, retryOn: 5xx}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: faulty, namespace: t}
spec:
  hosts: [faulty]
  http:
    - match: [{uri: {prefix: /delay}}]
      fault: {delay: {fixedDelay: 300ms, percentage: {value: 50}}}
      route: [{destination: {host: faulty}}]
    - match: [{uri: {prefix: /abort}}]
      fault: {abort: {httpStatus: 503, percentage: {value: 30}}}
      route: [{destination: {host: faulty}}]
      retries: {attempts: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: guarded, namespace: t}
spec:
  host: guarded
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: guarded, namespace: t}
spec:
  hosts: [guarded]
  http:
    - route: [{destination: {host: guarded}}]
      retries: {attempts: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ejecting, namespace: t}
spec:
  host: ejecting
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 1s
      baseEjectionTime: 60s
      maxEjectionPercent: 100
  subsets:
    - {name: bad, labels: {health: bad}}
    - {name: good, labels: {health: good}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ejecting, namespace: t}
spec:
  hosts: [ejecting]
  http:
    - route: [{destination: {host: ejecting}}]
      retries: {attempts: 0}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: t}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: [shop.example.com, admin.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: t}
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http:
    - route: [{destination: {host: web, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: admin, namespace: t}
spec:
  hosts: [admin.example.com]
  gateways: [edge]
  http:
    - route: [{destination: {host: web, subset: v2}}]
"""
)


def route_test(name: str, spec: str) -> str:
    """A RouteTest document in namespace t; ``spec`` is its indented YAML body."""
    return f"""---
apiVersion: meshrc.io/v1alpha1
kind: RouteTest
metadata: {{name: {name}, namespace: t}}
spec:
{spec}"""
