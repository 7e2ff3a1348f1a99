"""Manifests for the Service and workload checks (``reconciler.checks.workloads``): each a
mistake a team makes, with its fix beside it, used by ``test_codes`` and ``test_workloads``."""

from __future__ import annotations


def service(name: str, ports: str, *, selector: str = "", extra: str = "") -> str:
    """A Service in ``pay``; ``ports`` are the items under ``ports:`` (indented by four)."""
    return (
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  namespace: pay\n"
        "spec:\n"
        + extra
        + (f"  selector:\n    app: {selector}\n" if selector else "")
        + "  ports:\n"
        + ports
    )


def deployment(name: str, container: str = "") -> str:
    """A Deployment in ``pay`` of pods labelled ``app: name``, in the mesh by their injection
    label, whose one container ends with ``container`` (indented by ten)."""
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  namespace: pay\n"
        "spec:\n"
        "  selector:\n"
        f"    matchLabels: {{app: {name}}}\n"
        "  template:\n"
        "    metadata:\n"
        "      labels:\n"
        f"        app: {name}\n"
        '        sidecar.istio.io/inject: "true"\n'
        "    spec:\n"
        "      containers:\n"
        f"        - name: {name}\n"
        "          image: example.com/pay:1.0\n" + container
    )


POSTGRES = service(
    "ledger-db",
    "    - name: postgres\n      port: 5432\n      targetPort: 5432\n",
)
"""A Service without selector (its endpoints are managed by hand) for a database: still a
Service whose port protocol Istio must know."""
POSTGRES_FIXED = POSTGRES.replace("name: postgres", "name: tcp-postgres")

EXTERNAL_DB = service(
    "payments-api",
    "    - name: tcp\n      port: 443\n",
    extra="  type: ExternalName\n  externalName: api.payments.example.com\n",
)
EXTERNAL_DB_FIXED = EXTERNAL_DB.replace("name: tcp", "name: tls")

_PAY = deployment("pay")
TWO_PROTOCOLS = "---\n".join(
    [
        _PAY,
        service("pay", "    - name: tcp-pay\n      port: 9000\n", selector="pay"),
        service(
            "pay-metrics",
            "    - name: udp-statsd\n      port: 9000\n      protocol: UDP\n",
            selector="pay",
        ),
    ]
)
"""Two Services select the same pods with port 9000, one TCP and one UDP."""
TWO_PROTOCOLS_FIXED = TWO_PROTOCOLS.replace("      protocol: UDP\n", "").replace(
    "udp-statsd", "tcp-statsd"
)
"""The same port with the same protocol in both Services: Istio accepts it."""

TWO_PORTS = "---\n".join(
    [
        _PAY,
        service(
            "pay", "    - name: http\n      port: 80\n      targetPort: 8080\n", selector="pay"
        ),
        service(
            "pay-internal",
            "    - name: http\n      port: 8080\n      targetPort: 8080\n",
            selector="pay",
        ),
    ]
)
"""Two Services send ports 80 and 8080 to the pods' 8080."""
TWO_PORTS_FIXED = TWO_PORTS.replace(
    "      port: 8080\n      targetPort", "      port: 80\n      targetPort"
)

UID_1337 = deployment(
    "pay",
    "          securityContext:\n            runAsUser: 1337\n",
)
UID_FIXED = UID_1337.replace("runAsUser: 1337", "runAsUser: 1000")

REQUEST_AUTHN = """\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
  namespace: pay
spec:
  jwtRules:
    - issuer: https://auth.example.com
      jwksUri: https://auth.example.com/.well-known/jwks.json
"""
ISTIOD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: istio-system
  labels:
    app: istiod
spec:
  selector:
    matchLabels: {app: istiod}
  template:
    metadata:
      labels: {app: istiod}
    spec:
      containers:
        - name: discovery
          image: docker.io/istio/pilot:1.28.0
          env:
            - name: PILOT_TRACE_SAMPLING
              value: "1"
"""
ISTIOD_FIXED = ISTIOD.replace(
    '            - name: PILOT_TRACE_SAMPLING\n              value: "1"\n',
    "            - name: BLOCKED_CIDRS_IN_JWKS_URIS\n"
    '              value: "10.0.0.0/8,169.254.0.0/16"\n',
)
JWKS = REQUEST_AUTHN + "---\n" + ISTIOD
JWKS_FIXED = REQUEST_AUTHN + "---\n" + ISTIOD_FIXED
