"""Security policies for the check tests: built on the shared clean mesh (``BASE``), whose
namespace ``shop`` runs reviews, ratings and productpage and whose istio-system runs the
ingress gateway pods."""

from __future__ import annotations

from .mesh import FRONTEND, replace_once


def policy(kind: str, name: str, namespace: str, spec: str) -> str:
    return (
        f"apiVersion: security.istio.io/v1\nkind: {kind}\nmetadata:\n  name: {name}\n"
        f"  namespace: {namespace}\nspec:\n{spec}"
    )


def peer(name: str, namespace: str, spec: str) -> str:
    return policy("PeerAuthentication", name, namespace, spec)


RATINGS_SELECTOR = "  selector:\n    matchLabels:\n      app: ratings\n"
STRICT = "  mtls:\n    mode: STRICT\n"
MESH_STRICT = peer("default", "istio-system", "  mtls:\n    mode: STRICT\n")
SHOP_STRICT = peer("default", "shop", "  mtls:\n    mode: STRICT\n")
SHOP_PERMISSIVE = peer("default", "shop", "  mtls:\n    mode: PERMISSIVE\n")

RATINGS_DISABLE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
  namespace: shop
spec:
  host: ratings.shop.svc.cluster.local
  trafficPolicy:
    tls:
      mode: DISABLE
"""

RATINGS_PORT_DISABLE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
  namespace: shop
spec:
  host: ratings.shop.svc.cluster.local
  trafficPolicy:
    portLevelSettings:
      - port:
          number: 9080
        tls:
          mode: DISABLE
"""


NAMESPACE_SHOP = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"


def from_namespaces(*names: str) -> str:
    listed = "".join(f"              - {name!r}\n" for name in names)
    spec = f"  rules:\n    - from:\n        - source:\n            namespaces:\n{listed}"
    return policy("AuthorizationPolicy", "from", "shop", spec)


CLAIM_ROUTE = replace_once(
    FRONTEND,
    "            prefix: /api\n",
    '            prefix: /api\n          headers:\n            "@request.auth.claims.groups":\n'
    "              exact: admin\n",
)
"""BASE's frontend, whose /api rule now also requires a JWT claim, on istio-system/shop-gateway."""

GATEWAY_JWT = policy(
    "RequestAuthentication",
    "jwt",
    "istio-system",
    "  selector:\n    matchLabels:\n      istio: ingressgateway\n  jwtRules:\n"
    "    - issuer: https://issuer.example.com\n      jwksUri: https://issuer.example.com/jwks\n",
)
