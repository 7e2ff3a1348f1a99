"""The renderer: istiod's translation of each routing feature, checked on the rendered
config, and every config loaded by a real Envoy (``envoy --mode validate``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import RenderError
from reconciler.render.endpoints import from_snapshot, parse_endpoints_file, subset_labels
from reconciler.render.layouts import bootstrap, dumps, xds_files
from reconciler.render.options import RenderOptions
from reconciler.render.proxies import RenderedProxy, Sidecar, render_proxy
from reconciler.snapshots import state_at
from reconciler.verify.credentials import write_stand_in_secrets
from reconciler.verify.envoy import validate
from render.meshes import SHOP, snapshot_of, write_mesh

TEMPLATE = Path(__file__).resolve().parents[2] / "repo-template"


# Every configuration these tests render is loaded by a real Envoy (see ``render``).
pytestmark = pytest.mark.usefixtures("envoy_binary")
_SECRETS = tempfile.TemporaryDirectory(prefix="meshrc-test-secrets-")  # removed at exit
SECRETS = write_stand_in_secrets(Path(_SECRETS.name), ["shop-cert", "bookinfo-tls"])


def render(tmp_path: Path, proxy: str = "mesh", text: str = SHOP, **options: Any) -> RenderedProxy:
    """The render of ``text`` for ``proxy``, after a real Envoy has loaded it (with stand-in
    Secrets when the test names a credentials folder that does not exist)."""
    snapshot = snapshot_of(write_mesh(tmp_path / "mesh", text))
    endpoints = from_snapshot(snapshot)
    rendered = render_proxy(snapshot, proxy, endpoints, RenderOptions(namespace="shop", **options))
    loadable = {**options, "credentials_dir": str(SECRETS)}
    validate(
        bootstrap(
            render_proxy(snapshot, proxy, endpoints, RenderOptions(namespace="shop", **loadable))
        )
    )
    return rendered


def route_config(rendered: RenderedProxy, listener: str) -> dict[str, Any]:
    found = next(x for x in rendered.listeners if x["name"] == listener)
    config: dict[str, Any] = found["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    return config


def host(rendered: RenderedProxy, listener: str, name: str) -> dict[str, Any]:
    return next(h for h in route_config(rendered, listener)["virtual_hosts"] if h["name"] == name)


def cluster(rendered: RenderedProxy, name: str) -> dict[str, Any]:
    return next(c for c in rendered.clusters if c["name"] == name)


REVIEWS = "reviews.shop.svc.cluster.local"


@pytest.fixture
def mesh(tmp_path: Path) -> RenderedProxy:
    return render(tmp_path)


def test_sidecar_listeners_domains_and_first_match_order(mesh: RenderedProxy) -> None:
    assert [x["name"] for x in mesh.listeners] == [
        "0.0.0.0_80",
        "0.0.0.0_8443",
        "0.0.0.0_9080",
        "0.0.0.0_9090",
    ]
    assert {x["address"]["socket_address"]["address"] for x in mesh.listeners} == {"127.0.0.1"}
    reviews = host(mesh, "0.0.0.0_9080", f"{REVIEWS}:9080")
    assert reviews["domains"] == [REVIEWS, "reviews.shop.svc", "reviews.shop", "reviews"]
    matches = [r["match"] for r in reviews["routes"]]
    assert matches[:4] == [
        {"prefix": "/", "headers": [{"name": "end-user", "string_match": {"exact": "jason"}}]},
        {"prefix": "/", "query_parameters": [{"name": "canary", "string_match": {"exact": "yes"}}]},
        {"prefix": "/old"},
        {"path": "/teapot"},
    ]
    assert matches[4] == {"safe_regex": {"regex": "/v[0-9]+/.*"}, "case_sensitive": False}
    assert matches[5]["headers"] == [
        {"name": ":method", "string_match": {"exact": "POST"}},
        {"name": "x-debug", "present_match": True, "invert_match": True},
    ]
    # The weighted rule is a catch-all: the rule after it is unreachable and not rendered.
    assert len(reviews["routes"]) == 7 and matches[6] == {"prefix": "/"}
    assert route_config(mesh, "0.0.0.0_9080")["virtual_hosts"][-1]["name"] == "block_all"


def test_route_actions(mesh: RenderedProxy) -> None:
    routes = host(mesh, "0.0.0.0_9080", f"{REVIEWS}:9080")["routes"]
    jason = routes[0]["route"]
    assert jason["cluster"] == f"outbound|9080|v2|{REVIEWS}" and jason["timeout"] == "2s"
    assert jason["retry_policy"]["num_retries"] == 3
    assert jason["retry_policy"]["retry_on"] == "5xx,retriable-status-codes"
    assert jason["retry_policy"]["retriable_status_codes"] == [409]
    assert jason["retry_policy"]["per_try_timeout"] == "0.5s"
    assert routes[2]["redirect"] == {
        "path_redirect": "/new",
        "host_redirect": "reviews.shop",
        "response_code": "FOUND",
    }
    assert routes[3]["direct_response"] == {
        "status": 418,
        "body": {"inline_string": "short and stout"},
    }
    rewritten = routes[4]
    action = rewritten["route"]
    assert (
        action["prefix_rewrite"] == "/api/" and action["host_rewrite_literal"] == "reviews-internal"
    )
    assert "retry_policy" not in action  # attempts: 0 turns retries off
    assert action["timeout"] == "0s"  # no timeout: Envoy's 15 s default is disabled, as istiod does
    assert action["request_mirror_policies"] == [
        {
            "cluster": "outbound|9080||ratings.shop.svc.cluster.local",
            "runtime_fraction": {"default_value": {"numerator": 250000, "denominator": "MILLION"}},
        }
    ]
    assert rewritten["request_headers_to_add"] == [
        {
            "header": {"key": "x-route", "value": "rewritten"},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
    ]
    assert rewritten["request_headers_to_remove"] == ["x-secret"]
    fault = rewritten["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["delay"] == {
        "fixed_delay": "1.5s",
        "percentage": {"numerator": 100000, "denominator": "MILLION"},
    }
    assert fault["abort"] == {
        "http_status": 503,
        "percentage": {"numerator": 5000, "denominator": "MILLION"},
    }
    cors = rewritten["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert cors["allow_origin_string_match"] == [{"exact": "https://shop.example.com"}]
    assert cors["allow_methods"] == "GET,POST" and cors["max_age"] == "86400"
    weighted = routes[6]["route"]["weighted_clusters"]["clusters"]
    assert [(c["name"], c["weight"]) for c in weighted] == [
        (f"outbound|9080|v1|{REVIEWS}", 75),
        (f"outbound|9080|v3|{REVIEWS}", 25),
    ]  # weight 0 is left out; no total_weight
    assert weighted[1]["request_headers_to_add"][0]["header"] == {
        "key": "x-canary",
        "value": "true",
    }
    default = routes[6]["route"]["retry_policy"]
    assert default["num_retries"] == 2 and default["retriable_status_codes"] == [503]
    assert (
        default["retry_on"]
        == "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    )


def test_a_service_without_virtual_service_gets_the_default_route(mesh: RenderedProxy) -> None:
    ratings = host(mesh, "0.0.0.0_9080", "ratings.shop.svc.cluster.local:9080")
    (route,) = ratings["routes"]
    assert route["route"]["cluster"] == "outbound|9080||ratings.shop.svc.cluster.local"
    assert route["route"]["timeout"] == "0s" and route["route"]["retry_policy"]["num_retries"] == 2


def test_match_gateways_decide_alone(tmp_path: Path) -> None:
    mesh = render(tmp_path / "a")
    # api.example.com has no Service: only registry hosts get a virtual host on a sidecar.
    assert not any(
        "api.example.com" in h["domains"]
        for h in route_config(mesh, "0.0.0.0_9080")["virtual_hosts"]
    )
    gateway = render(tmp_path / "b", "shop/web")
    api = host(gateway, "0.0.0.0_80", "api.example.com:80")
    assert [r["match"] for r in api["routes"]] == [{"prefix": "/v1"}]


def test_cluster_policies_follow_istiod_precedence(mesh: RenderedProxy) -> None:
    default = cluster(mesh, f"outbound|9080||{REVIEWS}")
    # portLevelSettings for 9080 replaces the top-level policy whole: RANDOM, and no pool or
    # outlier detection from the top level.
    assert default["lb_policy"] == "RANDOM"
    assert default["connect_timeout"] == "10s"
    assert default["circuit_breakers"]["thresholds"][0]["max_connections"] == 4294967295
    assert "outlier_detection" not in default
    v2 = cluster(mesh, f"outbound|9080|v2|{REVIEWS}")
    assert v2["lb_policy"] == "RANDOM"  # the subset sets only a pool
    assert v2["circuit_breakers"]["thresholds"][0] | {} == {
        "max_connections": 1,
        "max_pending_requests": 1,
        "max_requests": 4294967295,
        "max_retries": 4294967295,
    }
    v3 = cluster(mesh, f"outbound|9080|v3|{REVIEWS}")
    assert v3["lb_policy"] == "RING_HASH" and v3["ring_hash_lb_config"] == {"minimum_ring_size": 64}


def test_top_level_policy_on_ports_without_port_settings(tmp_path: Path) -> None:
    text = SHOP.replace(
        "      - port: {number: 9080}\n        loadBalancer: {simple: RANDOM}\n",
        "      - port: {number: 9999}\n        loadBalancer: {simple: RANDOM}\n",
    )
    rendered = render(tmp_path, text=text)
    default = cluster(rendered, f"outbound|9080||{REVIEWS}")
    assert default["lb_policy"] == "ROUND_ROBIN" and default["connect_timeout"] == "2s"
    assert default["circuit_breakers"]["thresholds"][0]["max_pending_requests"] == 10
    assert default["circuit_breakers"]["thresholds"][0]["max_retries"] == 3
    assert default["outlier_detection"] == {
        "enforcing_success_rate": 0,
        "consecutive_5xx": 2,
        "enforcing_consecutive_5xx": 100,
        "interval": "1s",
        "base_ejection_time": "30s",
        "max_ejection_percent": 100,
    }
    options = default["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["common_http_protocol_options"] == {"idle_timeout": "30s"}
    grpc = cluster(rendered, "outbound|9090||ratings.shop.svc.cluster.local")
    http2 = grpc["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert http2["explicit_http_config"] == {"http2_protocol_options": {}}


def test_service_entry_resolutions(mesh: RenderedProxy) -> None:
    static = cluster(mesh, "outbound|8443||payments.example.com")
    assert static["type"] == "STATIC" and static["metadata"] == {
        "filter_metadata": {"istio": {"external": True}}
    }
    endpoints = static["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [
        (e["endpoint"]["address"]["socket_address"]["port_value"], e.get("load_balancing_weight"))
        for e in endpoints
    ] == [(443, None), (9443, 3)]
    dns = cluster(mesh, "outbound|80||search.example.com")
    assert dns["type"] == "STRICT_DNS"
    assert dns["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
        "socket_address"
    ] == {"address": "search.example.com", "port_value": 80}
    none = cluster(mesh, "outbound|7000||legacy.internal")
    assert (
        none["type"] == "ORIGINAL_DST"
        and none["lb_policy"] == "CLUSTER_PROVIDED"
        and "load_assignment" not in none
    )
    assert "legacy.internal:7000 is tcp: no listener rendered (HTTP only)" in mesh.notes


def test_subset_clusters_hold_the_endpoints_with_their_labels(tmp_path: Path) -> None:
    snapshot = snapshot_of(write_mesh(tmp_path / "mesh"))
    endpoints = parse_endpoints_file(
        "reviews.shop/v1: [127.0.0.1:7001]\nreviews.shop/v2: [127.0.0.1:7002, '[::1]:7003']\n"
        "ratings.shop.svc.cluster.local:9080: 10.0.0.9:8080\n",
        "endpoints.yaml",
        subset_labels(snapshot),
    )
    rendered = render_proxy(snapshot, "mesh", endpoints, RenderOptions(namespace="shop"))

    def addresses(name: str) -> list[str]:
        groups = cluster(rendered, name)["load_assignment"]["endpoints"]
        return [
            f"{e['endpoint']['address']['socket_address']['address']}:{e['endpoint']['address']['socket_address']['port_value']}"
            for g in groups
            for e in g["lb_endpoints"]
        ]

    assert addresses(f"outbound|9080||{REVIEWS}") == [
        "127.0.0.1:7001",
        "127.0.0.1:7002",
        "::1:7003",
    ]
    assert addresses(f"outbound|9080|v1|{REVIEWS}") == ["127.0.0.1:7001"]
    assert addresses(f"outbound|9080|v2|{REVIEWS}") == ["127.0.0.1:7002", "::1:7003"]
    assert addresses(f"outbound|9080|v3|{REVIEWS}") == []
    assert addresses("outbound|9080||ratings.shop.svc.cluster.local") == ["10.0.0.9:8080"]
    assert addresses("outbound|9090||ratings.shop.svc.cluster.local") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[a, b]", "expected a mapping"),
        ("'reviews.shop/v9': [127.0.0.1:1]", "no DestinationRule defines subset v9"),
        ("'reviews.shop': [localhost:80]", "'localhost:80' is not an IP address:port"),
        ("'reviews.shop': [127.0.0.1:70000]", "port 70000 is out of range"),
        ("'a b': [127.0.0.1:1]", "'a b' is not host[:port][/subset]"),
        ("reviews: {", "not valid YAML"),
    ],
)
def test_a_bad_endpoints_file_names_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    snapshot = snapshot_of(write_mesh(tmp_path / "mesh"))
    with pytest.raises(RenderError) as raised:
        parse_endpoints_file(text, "endpoints.yaml", subset_labels(snapshot))
    assert str(raised.value).startswith("endpoints.yaml: ") and message in str(raised.value)


def test_gateway_virtual_hosts(tmp_path: Path) -> None:
    gateway = render(tmp_path, "shop/web", credentials_dir="/mnt/secrets")
    names = [x["name"] for x in gateway.listeners]
    assert names == ["0.0.0.0_80", "0.0.0.0_443", "0.0.0.0_8080", "0.0.0.0_9000"]
    assert {x["address"]["socket_address"]["address"] for x in gateway.listeners} == {"0.0.0.0"}
    hosts = [h["name"] for h in route_config(gateway, "0.0.0.0_80")["virtual_hosts"]]
    # shop/*.example.com admits the shop VirtualServices' hosts; admin.example.com too.
    assert hosts == ["admin.example.com:80", "api.example.com:80", "www.example.com:80"]
    www = host(gateway, "0.0.0.0_80", "www.example.com:80")
    assert [r["match"] for r in www["routes"]] == [{"prefix": "/"}]  # cut off at its catch-all
    admin = host(gateway, "0.0.0.0_8080", "admin.example.com:8080")
    assert admin["require_tls"] == "ALL" and admin["domains"] == ["admin.example.com"]
    assert route_config(gateway, "0.0.0.0_9000")["virtual_hosts"] == [
        {"name": "blackhole:9000", "domains": ["*"], "routes": []}
    ]
    hcm = gateway.listeners[0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["use_remote_address"] is True and hcm["normalize_path"] is True


def test_https_servers_terminate_tls_with_the_mounted_secret(tmp_path: Path) -> None:
    gateway = render(tmp_path, "shop/web", credentials_dir="/mnt/secrets/")
    https = next(x for x in gateway.listeners if x["name"] == "0.0.0.0_443")
    (chain,) = https["filter_chains"]
    assert chain["filter_chain_match"] == {"server_names": ["*.example.com"]}
    context = chain["transport_socket"]["typed_config"]["common_tls_context"]
    assert context["tls_certificates"] == [
        {
            "certificate_chain": {"filename": "/mnt/secrets/shop-cert/tls.crt"},
            "private_key": {"filename": "/mnt/secrets/shop-cert/tls.key"},
        }
    ]
    assert context["alpn_protocols"] == ["h2", "http/1.1"]
    config = chain["filters"][0]["typed_config"]["route_config"]
    assert config["name"] == "https.443.https.web.shop"
    assert [h["name"] for h in config["virtual_hosts"]] == [
        "admin.example.com:443",
        "api.example.com:443",
        "www.example.com:443",
    ]
    assert https["listener_filters"][0]["name"] == "envoy.filters.listener.tls_inspector"


def test_tls_passthrough_and_tcp_servers(tmp_path: Path) -> None:
    gateway = render(tmp_path, "shop/passthrough")
    tls, tcp = (
        next(x for x in gateway.listeners if x["name"] == f"0.0.0.0_{p}") for p in (8443, 5432)
    )
    (chain,) = tls["filter_chains"]
    assert chain["filter_chain_match"] == {"server_names": ["db.internal.example.com"]}
    proxy = chain["filters"][0]["typed_config"]
    assert proxy["cluster"] == "outbound|9090||ratings.shop.svc.cluster.local"
    (chain,) = tcp["filter_chains"]
    weighted = chain["filters"][0]["typed_config"]["weighted_clusters"]["clusters"]
    assert weighted == [
        {"name": "outbound|9080||ratings.shop.svc.cluster.local", "weight": 50},
        {"name": f"outbound|9080||{REVIEWS}", "weight": 50},
    ]
    assert "listener_filters" not in tcp


def test_gateway_routes_of_several_virtual_services_put_catch_alls_last(tmp_path: Path) -> None:
    extra = """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a-first, namespace: shop}
spec:
  hosts: [www.example.com]
  gateways: [web]
  http:
    - route:
        - destination: {host: ratings, port: {number: 9080}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: z-last, namespace: shop}
spec:
  hosts: [www.example.com]
  gateways: [web]
  http:
    - match:
        - uri: {prefix: /z}
      route:
        - destination: {host: reviews}
"""
    gateway = render(tmp_path, "shop/web", SHOP + extra)
    www = host(gateway, "0.0.0.0_80", "www.example.com:80")
    assert [r["match"] for r in www["routes"]] == [
        {"prefix": "/z"},
        {"prefix": "/"},
        {"prefix": "/"},
    ]


def test_an_unknown_gateway_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        RenderError,
        match=r"^no Gateway shop/nope in the snapshot \(Gateways: shop/passthrough, shop/web\)$",
    ):
        render(tmp_path, "shop/nope")


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = dumps(bootstrap(render(tmp_path / "a")), "yaml")
    shuffled = "\n---\n".join(reversed(SHOP.split("\n---\n")))
    second = dumps(bootstrap(render(tmp_path / "b", text=shuffled)), "yaml")
    assert first == second


@pytest.mark.parametrize("proxy", ["mesh", "shop/web", "shop/passthrough"])
def test_envoy_loads_every_render(tmp_path: Path, proxy: str, envoy_binary: str) -> None:
    rendered = render(tmp_path, proxy, credentials_dir=str(SECRETS))
    validate(bootstrap(rendered), envoy_binary)


@pytest.mark.parametrize("proxy", ["mesh", "bookinfo/bookinfo-gateway"])
def test_envoy_loads_the_template_repository(proxy: str, envoy_binary: str) -> None:
    state = state_at(TEMPLATE, None, None)
    assert not state.findings
    snapshot = state.snapshot
    options = RenderOptions(namespace="bookinfo", credentials_dir=str(SECRETS))
    rendered = render_proxy(snapshot, proxy, from_snapshot(snapshot), options)
    assert rendered.listeners and rendered.clusters
    validate(bootstrap(rendered), envoy_binary)


def test_envoy_rejects_what_it_cannot_run(tmp_path: Path, envoy_binary: str) -> None:
    """The validation is real: a config Envoy refuses fails with Envoy's reason."""
    broken = bootstrap(render(tmp_path))
    broken["static_resources"]["clusters"][0]["lb_policy"] = "NO_SUCH_POLICY"
    with pytest.raises(RenderError, match="NO_SUCH_POLICY"):
        validate(broken, envoy_binary)


def test_xds_files_point_at_the_watched_directory(tmp_path: Path) -> None:
    files = xds_files(render(tmp_path), "/etc/envoy/xds/")
    lds = files["bootstrap.yaml"]["dynamic_resources"]["lds_config"]
    assert lds["path_config_source"] == {
        "path": "/etc/envoy/xds/lds.yaml",
        "watched_directory": {"path": "/etc/envoy/xds"},
    }
    kinds = {r["@type"] for r in files["lds.yaml"]["resources"]} | {
        r["@type"] for r in files["cds.yaml"]["resources"]
    }
    assert kinds == {
        "type.googleapis.com/envoy.config.listener.v3.Listener",
        "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    }


def test_a_changed_virtual_service_re_renders_only_its_hosts(tmp_path: Path) -> None:
    """The incremental render equals a full render of the new snapshot, byte for byte, and
    routes again only the hosts the change touches."""
    before = snapshot_of(write_mesh(tmp_path / "before"))
    changed = SHOP.replace("weight: 75", "weight: 50").replace("weight: 25", "weight: 50")
    after = snapshot_of(write_mesh(tmp_path / "after", changed))
    options = RenderOptions(namespace="shop")
    sidecar = Sidecar(before, from_snapshot(before), options)
    (reviews,) = [vs for vs in after.virtual_services if vs.name == "reviews"]
    incremental = sidecar.replace([], [reviews])
    assert sidecar.last_affected == {REVIEWS}
    full = render_proxy(after, "mesh", from_snapshot(after), options)
    assert dumps(bootstrap(incremental), "json") == dumps(bootstrap(full), "json")
    # Taking the VirtualService out leaves the default route, as a full render would.
    without = sidecar.replace([("shop", "reviews")], [])
    routes = next(
        h
        for h in route_config(without, "0.0.0.0_9080")["virtual_hosts"]
        if h["name"] == f"{REVIEWS}:9080"
    )["routes"]
    assert [r["name"] for r in routes] == ["default"]


def test_consistent_hashing_puts_a_hash_policy_on_routes_to_the_cluster(tmp_path: Path) -> None:
    pinned = SHOP.replace(
        "      route:\n        - destination: {host: reviews, subset: v2}\n      timeout: 2s",
        "      route:\n        - destination: {host: reviews, subset: v3}\n      timeout: 2s",
    )
    routes = host(render(tmp_path, text=pinned), "0.0.0.0_9080", f"{REVIEWS}:9080")["routes"]
    jason = routes[0]["route"]
    assert jason["cluster"] == f"outbound|9080|v3|{REVIEWS}"
    assert jason["hash_policy"] == [{"header": {"header_name": "x-user"}}]
    assert "retry_host_predicate" not in jason["retry_policy"]  # retries stay on the hashed host
    assert "hash_policy" not in routes[4]["route"]  # v1 does not hash
