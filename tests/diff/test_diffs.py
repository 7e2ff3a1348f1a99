"""The routing diff as pure data: pairs of small meshes in YAML -> the sentences expected."""

from __future__ import annotations

import pytest

from reconciler.diffs import Change, RoutingDiff, diff_snapshots
from reconciler.model.snapshot import Snapshot, build_snapshot
from reconciler.source.loading import SourceFile, git_blob_id, load_files

REVIEWS = "reviews.shop.svc.cluster.local"
VS_REF = "VirtualService/shop/reviews"
DR_REF = "DestinationRule/shop/reviews"


def snapshot(*documents: str) -> Snapshot:
    """A snapshot of one file holding ``documents``."""
    data = "\n---\n".join(documents).encode()
    file = SourceFile("mesh.yaml", git_blob_id(data), len(data), lambda: data)
    loaded = load_files([file])
    snap, findings = build_snapshot(loaded.documents)
    assert not loaded.findings
    assert not findings or snap.broken, [f.message for f in findings]
    return snap


def diff(base: list[str], head: list[str]) -> RoutingDiff:
    return diff_snapshots(snapshot(*base), snapshot(*head))


def changes(base: list[str], head: list[str], host: str = REVIEWS) -> list[Change]:
    found = {h.host: h.changes for h in diff(base, head).hosts}
    return found.get(host, [])


def summaries(base: list[str], head: list[str], host: str = REVIEWS) -> list[str]:
    return [c.summary for c in changes(base, head, host)]


def vs(http: str, *, name: str = "reviews", extra: str = "") -> str:
    """A VirtualService for reviews in shop with ``http`` rules (YAML, indented by 2)."""
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [reviews]
{extra}  http:
{http}"""


def dr(body: str, *, host: str = "reviews") -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: shop}}
spec:
  host: {host}
{body}"""


def gateway(servers: str, selector: str = "{istio: ingressgateway}") -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: public, namespace: istio-system}}
spec:
  selector: {selector}
  servers:
{servers}"""


def service_entry(body: str) -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: payments, namespace: shop}}
spec:
  hosts: [api.payments.example.com]
{body}"""


SPLIT = """\
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v2}, weight: 0}
    - {destination: {host: reviews, subset: v3}, weight: 20}
"""
TO_V1 = """\
  - route:
    - destination: {host: reviews, subset: v1}
"""
CANARY = """\
  - name: canary
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
"""
API = """\
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: ratings}}]
"""
SUBSETS = """\
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def with_rule(text: str, settings: str) -> str:
    """``TO_V1``-like rule text with more settings (YAML lines at rule level)."""
    return text + "".join(f"    {line}\n" for line in settings.splitlines())


# --- weights ---------------------------------------------------------------------------------


def test_weights_as_percentages_of_their_sum_per_destination() -> None:
    head = SPLIT.replace("80}", "50}").replace("20}", "50}")
    [change] = changes([vs(SPLIT)], [vs(head)])
    assert change.kind == "weights" and change.resource == VS_REF
    assert change.summary == "v1 80% -> 50%, v3 20% -> 50%"
    assert change.before == {"v1": 80, "v2": 0, "v3": 20}
    assert change.after == {"v1": 50, "v2": 0, "v3": 50}


def test_relative_weights_and_a_single_destination_taking_everything() -> None:
    relative = SPLIT.replace("80}", "3}").replace("20}", "1}")
    assert summaries([vs(TO_V1)], [vs(relative)]) == ["v1 100% -> 75%, v3 0% -> 25%"]
    other_host = TO_V1.replace(
        "{host: reviews, subset: v1}", "{host: ratings.shop, port: {number: 9080}}"
    )
    assert summaries([vs(TO_V1)], [vs(other_host)]) == [
        "v1 100% -> 0%, ratings.shop:9080 0% -> 100%"
    ]


def test_a_rule_that_stops_forwarding() -> None:
    redirect = "  - redirect: {uri: /v2, redirectCode: 302}\n"
    assert summaries([vs(TO_V1)], [vs(redirect)]) == [
        "no longer forwards to v1",
        "redirect (uri /v2, redirectCode 302) added",
    ]
    assert summaries([vs(redirect)], [vs(TO_V1)])[0] == "now forwards to v1"


# --- rules and matches -----------------------------------------------------------------------


def test_new_and_removed_matches_with_their_destination_and_rule() -> None:
    assert summaries([vs(TO_V1)], [vs(CANARY + TO_V1)]) == [
        "new match headers end-user=jason -> v2 (rule canary)",
    ]
    [removed] = changes([vs(API + TO_V1)], [vs(TO_V1)])
    assert removed.kind == "match-removed"
    assert removed.summary == "match removed: uri prefix /api -> ratings.shop (rule 0)"
    assert removed.before["match"] == [{"uri": {"prefix": "/api"}}]


def test_matches_are_rendered_compactly() -> None:
    match = """\
  - match:
    - uri: {exact: /login}
      method: {regex: "GET|HEAD"}
      authority: {prefix: shop.}
    - headers: {x-beta: {prefix: "1"}, x-debug: {}, cookie: {regex: "^user=.*"}}
      queryParams: {v: {exact: "2"}}
      withoutHeaders: {x-internal: {exact: "yes"}}
      ignoreUriCase: true
      sourceLabels: {app: web}
      port: 8080
    route: [{destination: {host: reviews, subset: v2}}]
"""
    [added] = summaries([vs(TO_V1)], [vs(match + TO_V1)])
    assert added == (
        "new match uri /login and method ~GET|HEAD and authority shop.* or "
        "headers x-beta=1*, x-debug present, cookie~^user=.* and port 8080 and "
        "source labels app=web and query v=2 and uri in any case and "
        "without headers x-internal=yes -> v2 (rule 0)"
    )


def test_a_named_rule_whose_match_changes() -> None:
    head = CANARY.replace("exact: jason", "exact: bob")
    [change] = changes([vs(CANARY + TO_V1)], [vs(head + TO_V1)])
    assert change.kind == "match-changed"
    assert change.summary == "rule canary: match headers end-user=jason -> headers end-user=bob"


def test_an_unnamed_rule_gaining_an_alternative_is_the_same_rule() -> None:
    head = API.replace("[{uri: {prefix: /api}}]", "[{uri: {prefix: /api}}, {uri: {prefix: /v2}}]")
    head = head.replace("host: ratings", "host: ratings, subset: v1")
    assert summaries([vs(API + TO_V1)], [vs(head + TO_V1)]) == [
        "rule 0 (uri prefix /api or uri prefix /v2): match uri prefix /api -> "
        "uri prefix /api or uri prefix /v2",
        "rule 0 (uri prefix /api or uri prefix /v2): ratings.shop 100% -> 0%, "
        "ratings.shop/v1 0% -> 100%",
    ]


def test_rule_order_changes_say_that_first_match_wins() -> None:
    [change] = changes([vs(CANARY + API + TO_V1)], [vs(API + CANARY + TO_V1)])
    assert change.kind == "rule-order"
    assert change.summary == (
        "rule 0 (uri prefix /api) moved before rule canary: first match wins, so requests "
        "that match both now go to ratings.shop"
    )
    assert (change.before, change.after) == (1, 0)
    [down] = changes([vs(CANARY + API + TO_V1)], [vs(API + TO_V1 + CANARY)])
    assert down.summary == (
        "rule canary moved after rule 0 (uri prefix /api), rule 1 (any request): first match "
        "wins, so requests that match both now take the earlier rule"
    )


# --- what a rule does ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "kind", "summary"),
    [
        ("timeout: 2s", "timeout: 1s", "timeout", "timeout 2s -> 1s"),
        ("", "timeout: 1s", "timeout", "timeout 1s added"),
        (
            "retries: {attempts: 3, perTryTimeout: 2s}",
            "retries: {attempts: 5, perTryTimeout: 2s}",
            "retries",
            "retries 3 -> 5 (perTryTimeout 2s)",
        ),
        (
            "retries: {attempts: 3}",
            "retries: {attempts: 3, retryOn: 5xx}",
            "retries",
            "retries 3 -> 3 (retryOn 5xx)",
        ),
        (
            "",
            "fault: {abort: {httpStatus: 503, percentage: {value: 10}}}",
            "fault-abort",
            "fault abort 503 for 10% added",
        ),
        (
            "fault: {delay: {fixedDelay: 5s, percentage: {value: 100}}}",
            "",
            "fault-delay",
            "fault delay 5s for 100% removed",
        ),
        (
            "fault: {abort: {grpcStatus: UNAVAILABLE}}",
            "fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0.5}}}",
            "fault-abort",
            "fault abort grpc UNAVAILABLE -> grpc UNAVAILABLE for 0.5%",
        ),
        (
            "",
            "mirror: {host: reviews, subset: v2}\nmirrorPercentage: {value: 10}",
            "mirror",
            "mirror to v2 10% added",
        ),
        (
            "mirrors: [{destination: {host: ratings}}]",
            "mirrors: [{destination: {host: ratings}, percentage: {value: 5}}]",
            "mirror",
            "mirror to ratings.shop 100% -> ratings.shop 5%",
        ),
        (
            "rewrite: {uri: /v1}",
            "rewrite: {uri: /v2}",
            "rewrite",
            "rewrite: uri /v1 -> /v2",
        ),
        (
            "corsPolicy: {allowOrigins: [{exact: https://a.example}], maxAge: 24h}",
            "corsPolicy: {allowOrigins: [{exact: https://a.example}], maxAge: 1h}",
            "cors",
            "CORS policy: maxAge 24h -> 1h",
        ),
        (
            "",
            "headers: {request: {set: {x-canary: 'true'}}}",
            "headers",
            "headers (request.set.x-canary true) added",
        ),
        (
            "headers: {response: {remove: [x-internal]}}",
            "",
            "headers",
            "headers (response.remove [x-internal]) removed",
        ),
    ],
)
def test_rule_settings(before: str, after: str, kind: str, summary: str) -> None:
    [change] = changes([vs(with_rule(TO_V1, before))], [vs(with_rule(TO_V1, after))])
    assert (change.kind, change.summary) == (kind, summary)


def test_direct_response_delegate_and_destination_headers() -> None:
    direct = "  - directResponse: {status: 503}\n"
    assert summaries([vs(direct)], [vs(direct.replace("503", "404"))]) == [
        "direct response: status 503 -> 404"
    ]
    delegate = "  - delegate: {name: reviews-routes}\n"
    [change] = changes([vs(TO_V1)], [vs(delegate)])[1:]
    assert (change.kind, change.summary) == ("delegate", "delegate (name reviews-routes) added")
    tagged = TO_V1 + "      headers: {request: {add: {x-version: v1}}}\n"
    [headers] = changes([vs(TO_V1)], [vs(tagged)])
    assert headers.summary == "headers for v1 (request.add.x-version v1) added"


def test_a_rule_among_several_is_named_by_name_or_position_and_match() -> None:
    head = with_rule(CANARY, "timeout: 3s") + with_rule(TO_V1, "timeout: 1s")
    assert summaries([vs(CANARY + TO_V1)], [vs(head)]) == [
        "rule canary: timeout 3s added",
        "rule 1 (any request): timeout 1s added",
    ]


def test_tcp_and_tls_rules() -> None:
    tcp = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: shop}
spec:
  hosts: [db]
  tcp:
  - match: [{port: 5432}]
    route:
    - {destination: {host: db, subset: primary}, weight: 100}
    - {destination: {host: db, subset: replica}, weight: 0}
  tls:
  - match: [{sniHosts: [db.example.com]}]
    route: [{destination: {host: db}}]
"""
    moved = tcp.replace("weight: 100", "weight: 90").replace("weight: 0", "weight: 10")
    moved = moved.replace("sniHosts: [db.example.com]", "sniHosts: [db2.example.com]")
    assert summaries([tcp], [moved], "db.shop.svc.cluster.local") == [
        "match removed: sni hosts [db.example.com] -> db.shop (tls rule 0)",
        "new match sni hosts [db2.example.com] -> db.shop (tls rule 0)",
        "tcp rule 0 (port 5432): primary 100% -> 90%, replica 0% -> 10%",
    ]


# --- VirtualService as a whole ---------------------------------------------------------------


def test_virtual_services_added_removed_and_moved_between_hosts() -> None:
    [added] = changes([], [vs(CANARY + TO_V1)])
    assert added.kind == "virtualservice-added" and added.before is None
    assert added.summary == (
        "added: on the mesh (sidecars): headers end-user=jason -> v2; any request -> v1"
    )
    assert added.after["hosts"] == ["reviews"]
    [removed] = changes([vs(TO_V1)], [])
    assert removed.summary == "removed: on the mesh (sidecars): any request -> v1"
    both_hosts = vs(TO_V1).replace("hosts: [reviews]", "hosts: [reviews, ratings]")
    [moved] = changes([vs(TO_V1)], [both_hosts], "ratings.shop.svc.cluster.local")
    assert moved.kind == "virtualservice-added"
    assert (
        moved.summary
        == "now applies to this host: on the mesh (sidecars): any request -> reviews.shop/v1"
    )
    assert changes([both_hosts], [vs(TO_V1)], "ratings.shop.svc.cluster.local")[0].summary == (
        "no longer applies to this host: on the mesh (sidecars): any request -> reviews.shop/v1"
    )


def test_gateway_bindings_and_export_to() -> None:
    bound = "  gateways: [istio-system/public, mesh]\n  exportTo: [.]\n"
    assert summaries([vs(TO_V1)], [vs(TO_V1, extra=bound)]) == [
        "bound to gateway istio-system/public",
        "export to [.] added",
    ]
    only_gateway = "  gateways: [istio-system/public]\n"
    assert summaries([vs(TO_V1)], [vs(TO_V1, extra=only_gateway)]) == [
        "bound to gateway istio-system/public",
        "unbound from the mesh (sidecars)",
    ]


def test_a_virtual_service_that_stops_validating_is_not_removed() -> None:
    broken = vs(TO_V1).replace("subset: v1", "subset: 7")
    [change] = changes([vs(TO_V1)], [broken])
    assert change.kind == "invalid" and change.resource == VS_REF
    assert change.summary == "does not validate at head: not compared (meshrc check says why)"


# --- DestinationRule -------------------------------------------------------------------------


def test_subsets_removed_added_and_relabelled() -> None:
    head = SUBSETS.replace("{name: v1, labels: {version: v1}}", "{name: v3, labels: {version: v3}}")
    head = head.replace("{version: v2}", "{version: v2, track: stable}")
    found = changes([dr(SUBSETS)], [dr(head)])
    assert [(c.kind, c.summary) for c in found] == [
        ("subset-removed", "subset v1 removed"),
        ("subset-labels", "subset v2 labels version=v2 -> version=v2, track=stable"),
        ("subset-added", "subset v3 added (version=v3)"),
    ]
    assert {c.resource for c in found} == {DR_REF}


@pytest.mark.parametrize(
    ("before", "after", "kind", "summary"),
    [
        (
            "connectionPool: {tcp: {maxConnections: 100}, http: {http1MaxPendingRequests: 10}}",
            "connectionPool: {tcp: {maxConnections: 10}, http: {http1MaxPendingRequests: 10}}",
            "connection-pool",
            "connection pool: tcp.maxConnections 100 -> 10",
        ),
        (
            "loadBalancer: {simple: ROUND_ROBIN}",
            "loadBalancer: {consistentHash: {httpHeaderName: x-user}}",
            "load-balancer",
            "load balancer: simple ROUND_ROBIN removed; consistentHash.httpHeaderName x-user added",
        ),
        (
            "outlierDetection: {consecutive5xxErrors: 5, interval: 10s}",
            "outlierDetection: {consecutive5xxErrors: 3, interval: 10000ms}",
            "outlier-detection",
            "outlier detection: consecutive5xxErrors 5 -> 3",
        ),
        (
            "tls: {mode: ISTIO_MUTUAL}",
            "tls: {mode: DISABLE}",
            "tls",
            "tls: mode ISTIO_MUTUAL -> DISABLE",
        ),
        (
            "portLevelSettings: [{port: {number: 80}, tls: {mode: DISABLE}}]",
            "portLevelSettings: [{port: {number: 80}, tls: {mode: SIMPLE}}]",
            "port-level-settings",
            "port level settings: port 80.tls.mode DISABLE -> SIMPLE",
        ),
    ],
)
def test_traffic_policies(before: str, after: str, kind: str, summary: str) -> None:
    def policy(text: str) -> str:
        return dr(f"  trafficPolicy: {{{text}}}\n" + SUBSETS)

    [change] = changes([policy(before)], [policy(after)])
    assert (change.kind, change.resource, change.summary) == (kind, DR_REF, summary)


def test_subset_traffic_policy_and_destination_rules_added_or_removed() -> None:
    head = SUBSETS.replace(
        "{name: v2, labels: {version: v2}}",
        "{name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: RANDOM}}}",
    )
    assert summaries([dr(SUBSETS)], [dr(head)]) == ["subset v2 load balancer (simple RANDOM) added"]
    [added] = changes([], [dr("  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n" + SUBSETS)])
    assert added.kind == "destinationrule-added"
    assert added.summary == (
        "added: subsets v1 (version=v1), v2 (version=v2); traffic policy tls.mode ISTIO_MUTUAL"
    )
    [moved] = changes([dr(SUBSETS)], [dr(SUBSETS, host="ratings")])
    assert (
        moved.summary == "no longer applies to this host: subsets v1 (version=v1), v2 (version=v2)"
    )


# --- Gateway and ServiceEntry ----------------------------------------------------------------

HTTP_SERVER = """\
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*/shop.example.com"]
"""
HTTPS_SERVER = """\
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop/shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cert}
"""


def test_gateway_servers_admitting_a_host() -> None:
    found = changes([gateway(HTTP_SERVER)], [gateway(HTTPS_SERVER)], "shop.example.com")
    assert [(c.kind, c.resource, c.summary) for c in found] == [
        (
            "gateway-server-removed",
            "Gateway/istio-system/public",
            "no longer admits it on port 80/HTTP",
        ),
        (
            "gateway-server-added",
            "Gateway/istio-system/public",
            "now admits it on port 443/HTTPS for namespace shop "
            "(tls.mode SIMPLE, tls.credentialName shop-cert)",
        ),
    ]
    mutual = HTTPS_SERVER.replace("SIMPLE", "MUTUAL")
    assert summaries([gateway(HTTPS_SERVER)], [gateway(mutual)], "shop.example.com") == [
        "port 443/HTTPS for namespace shop: tls.mode SIMPLE -> MUTUAL"
    ]
    assert summaries(
        [gateway(HTTP_SERVER)], [gateway(HTTP_SERVER, "{istio: internal}")], "shop.example.com"
    ) == ["selector: istio ingressgateway -> internal"]


def test_gateways_added_and_removed() -> None:
    [added] = changes([], [gateway(HTTP_SERVER)], "shop.example.com")
    assert (added.kind, added.summary) == ("gateway-added", "added: admits it on port 80/HTTP")
    [removed] = changes([gateway(HTTP_SERVER)], [], "shop.example.com")
    assert (removed.kind, removed.summary) == (
        "gateway-removed",
        "removed: admits it on port 80/HTTP",
    )


def test_service_entries() -> None:
    external = """\
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
"""
    host = "api.payments.example.com"
    [added] = changes([], [service_entry(external)], host)
    assert added.summary == (
        "added: ports.443.protocol TLS, ports.443.name tls, location MESH_EXTERNAL, resolution DNS"
    )
    changed = external.replace("DNS", "STATIC").replace("protocol: TLS", "protocol: HTTPS")
    assert [
        (c.kind, c.summary)
        for c in changes([service_entry(external)], [service_entry(changed)], host)
    ] == [
        ("ports", "ports: 443.protocol TLS -> HTTPS"),
        ("resolution", "resolution: DNS -> STATIC"),
    ]


# --- what is not a change, and order ---------------------------------------------------------


REWRITTEN = """\
# the same routing, written otherwise: comments, key order, flow vs block style, labels on the
# object, FQDN hosts, a name on a match, 2000ms for 2s, an explicit weight of 100
kind: VirtualService
apiVersion: networking.istio.io/v1
metadata:
  labels: {team: storefront}
  namespace: shop
  name: reviews
spec:
  hosts:
    - reviews.shop.svc.cluster.local
  http:
    - name: canary
      match:
        - name: jason
          headers:
            end-user: {exact: jason}
      route:
        - destination: {subset: v2, host: reviews.shop.svc.cluster.local}
          weight: 100
    - timeout: 2000ms
      route:
        - {weight: 80, destination: {host: reviews, subset: v1}}
        - {weight: 0, destination: {host: reviews, subset: v2}}
        - {weight: 20, destination: {host: reviews.shop.svc.cluster.local, subset: v3}}
"""


def test_changes_that_do_not_alter_traffic_say_nothing() -> None:
    base = [
        vs(CANARY + with_rule(SPLIT, "timeout: 2s")),
        dr(SUBSETS),
        gateway(HTTP_SERVER + HTTPS_SERVER),
    ]
    reordered = (
        SUBSETS.replace("  - {name: v1, labels: {version: v1}}\n", "")
        + "  - name: v1\n    labels: {version: v1}\n"
    )
    head = [dr(reordered), gateway(HTTPS_SERVER + HTTP_SERVER), REWRITTEN]
    assert diff(base, head).hosts == []


def test_hosts_sorted_and_output_deterministic() -> None:
    base = [vs(TO_V1), gateway(HTTP_SERVER)]
    head_docs = [
        service_entry("  resolution: DNS\n"),
        vs(SPLIT),
        dr(SUBSETS),
        gateway(HTTPS_SERVER),
    ]
    first = diff(base, head_docs)
    assert [h.host for h in first.hosts] == [
        "api.payments.example.com",
        REVIEWS,
        "shop.example.com",
    ]
    assert [c.resource for c in first.hosts[1].changes] == [VS_REF, DR_REF]
    assert diff(base[::-1], head_docs[::-1]) == first
    assert diff(base, head_docs).model_dump_json() == first.model_dump_json()
