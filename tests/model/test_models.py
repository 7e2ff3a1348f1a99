"""How the spec models behave on real-looking YAML: what they accept, reject, and where."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from reconciler.model import (
    DestinationRuleSpec,
    GatewaySpec,
    ServiceEntrySpec,
    ServiceSpec,
    VirtualServiceSpec,
    WorkloadSpec,
)
from reconciler.model.common import (
    Duration,
    NonNegativeDuration,
    StringMatch,
    duration_ns,
    is_deprecated,
)
from reconciler.model.destinationrule import LoadBalancerSettings
from reconciler.model.virtualservice import HTTPRoute
from reconciler.model.workloadentry import WorkloadEntrySpec


def _spec(text: str) -> Any:
    return yaml.safe_load(text)


def _errors(model: Any, data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(tuple(error["loc"]), error["type"]) for error in caught.value.errors()]


REVIEWS_VS = """
hosts: [reviews]
http:
- name: jason
  match:
  - headers:
      end-user: {exact: jason}
    uri: {prefix: /reviews}
  route:
  - destination: {host: reviews, subset: v2}
  fault:
    delay:
      percentage: {value: 0.1}
      fixedDelay: 7s
- route:
  - destination: {host: reviews, subset: v1, port: {number: 9080}}
    weight: 75
  - destination: {host: reviews, subset: v3}
    weight: 25
    headers:
      response:
        set: {x-version: v3}
  timeout: 1.5s
  retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,reset"}
  mirror: {host: reviews, subset: v4}
  mirrorPercentage: {value: 10.0}
"""

REVIEWS_DR = """
host: reviews.default.svc.cluster.local
trafficPolicy:
  connectionPool:
    tcp: {maxConnections: 100, connectTimeout: 30ms, idleTimeout: 0s}
    http: {http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRequestsPerConnection: 1,
           h2UpgradePolicy: UPGRADE}
  outlierDetection: {consecutive5xxErrors: 7, interval: 5m, baseEjectionTime: 15m}
  loadBalancer:
    consistentHash:
      httpCookie: {name: user, ttl: 0s}
  tls: {mode: ISTIO_MUTUAL}
subsets:
- name: v1
  labels: {version: v1}
- name: v2
  labels: {version: v2}
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer:
        localityLbSetting:
          distribute:
          - from: us-west/zone1/*
            to: {"us-west/zone1/*": 80, "us-west/zone2/*": 20}
"""

BOOKINFO_GATEWAY = """
selector: {istio: ingressgateway}
servers:
- port: {number: 80, name: http, protocol: HTTP}
  hosts: ["bookinfo.example.com"]
  tls: {httpsRedirect: true}
- port: {number: 443, name: https, protocol: HTTPS}
  hosts: ["default/bookinfo.example.com"]
  tls: {mode: SIMPLE, credentialName: bookinfo-cert, minProtocolVersion: TLSV1_2}
"""

EXTERNAL_SE = """
hosts: [api.example.com]
location: MESH_EXTERNAL
resolution: DNS
ports:
- {number: 443, name: https, protocol: TLS}
endpoints:
- address: api-1.example.com
  ports: {https: 8443}
  labels: {zone: a}
  weight: 2
"""


def test_bookinfo_virtual_service_is_read() -> None:
    spec = VirtualServiceSpec.model_validate(_spec(REVIEWS_VS))
    assert spec.http is not None
    jason, default = spec.http
    assert jason.match is not None and jason.match[0].headers is not None
    assert jason.match[0].headers["end-user"] == StringMatch(exact="jason")
    assert default.route is not None
    assert [r.weight for r in default.route] == [75, 25]
    assert default.route[0].destination.port is not None
    assert default.route[0].destination.port.number == 9080
    assert default.timeout == "1.5s"
    assert default.retries is not None and default.retries.per_try_timeout == "500ms"
    assert spec.tcp is None  # absent stays distinguishable from empty


def test_bookinfo_destination_rule_is_read_through_explicit_aliases() -> None:
    spec = DestinationRuleSpec.model_validate(_spec(REVIEWS_DR))
    policy = spec.traffic_policy
    assert policy is not None and policy.connection_pool is not None
    http = policy.connection_pool.http
    assert http is not None
    assert (http.http1_max_pending_requests, http.http2_max_requests) == (10, 1000)
    assert http.h2_upgrade_policy == "UPGRADE"
    assert policy.outlier_detection is not None
    assert policy.outlier_detection.consecutive_5xx_errors == 7
    assert spec.subsets is not None
    level = spec.subsets[1].traffic_policy
    assert level is not None and level.port_level_settings is not None
    lb = level.port_level_settings[0].load_balancer
    assert lb is not None and lb.locality_lb_setting is not None
    assert lb.locality_lb_setting.distribute is not None
    assert lb.locality_lb_setting.distribute[0].from_ == "us-west/zone1/*"


def test_bookinfo_gateway_and_service_entry_are_read() -> None:
    gateway = GatewaySpec.model_validate(_spec(BOOKINFO_GATEWAY))
    assert gateway.servers is not None
    assert gateway.servers[1].tls is not None
    assert gateway.servers[1].tls.credential_name == "bookinfo-cert"
    entry = ServiceEntrySpec.model_validate(_spec(EXTERNAL_SE))
    assert entry.endpoints == [
        WorkloadEntrySpec(
            address="api-1.example.com", ports={"https": 8443}, labels={"zone": "a"}, weight=2
        )
    ]


def test_unknown_field_is_rejected_at_its_yaml_path() -> None:
    data = _spec(REVIEWS_VS)
    data["http"][1]["route"][1]["wieght"] = 25
    assert _errors(VirtualServiceSpec, data) == [
        (("http", 1, "route", 1, "wieght"), "extra_forbidden")
    ]


def test_string_weight_is_rejected_with_camel_case_location() -> None:
    data = _spec(REVIEWS_VS)
    data["http"][1]["route"][1]["weight"] = "25"
    assert _errors(VirtualServiceSpec, data) == [(("http", 1, "route", 1, "weight"), "int_type")]
    data = _spec(REVIEWS_DR)
    data["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] = "7"
    assert _errors(DestinationRuleSpec, data) == [
        (("trafficPolicy", "outlierDetection", "consecutive5xxErrors"), "int_type")
    ]


def test_no_coercion_of_bools_or_numbers() -> None:
    assert _errors(StringMatch, {"exact": 5}) == [(("exact",), "string_type")]
    data = {"hosts": ["a"], "http": [{"match": [{"ignoreUriCase": "yes"}]}]}
    assert _errors(VirtualServiceSpec, data) == [
        (("http", 0, "match", 0, "ignoreUriCase"), "bool_type")
    ]


def test_string_match_allows_at_most_one_kind() -> None:
    assert StringMatch.model_validate({"prefix": "/a"}).prefix == "/a"
    assert StringMatch.model_validate({}) == StringMatch()  # header presence: `name: {}`
    data = {"hosts": ["a"], "http": [{"match": [{"uri": {"exact": "/a", "prefix": "/a"}}]}]}
    with pytest.raises(ValidationError) as caught:
        VirtualServiceSpec.model_validate(data)
    (error,) = caught.value.errors()
    assert error["loc"] == ("http", 0, "match", 0, "uri")
    assert "only one of exact, prefix, regex may be set, got exact and prefix" in error["msg"]


def test_other_oneofs_are_enforced_with_yaml_names() -> None:
    with pytest.raises(ValidationError, match="only one of simple, consistentHash"):
        LoadBalancerSettings.model_validate(
            {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}}
        )


@pytest.mark.parametrize("text", ["1.5s", "300ms", "1h2m", "1ms", "2h45m30.5s", ".5s", "1.s"])
def test_duration_accepts_go_syntax(text: str) -> None:
    route = HTTPRoute.model_validate({"timeout": text})
    assert route.timeout == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("5", "invalid duration"),
        ("0.5ms", "at least 1ms"),
        ("0", "at least 1ms"),
        ("0s", "at least 1ms"),
        ("-1s", "at least 1ms"),
        ("1d", "invalid duration"),
        ("1.5 s", "invalid duration"),
        ("", "invalid duration"),
        ("s", "invalid duration"),
    ],
)
def test_duration_rejects_bad_or_tiny_values(text: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        HTTPRoute.model_validate({"timeout": text})
    assert caught.value.errors()[0]["loc"] == ("timeout",)


def test_duration_values_are_exact() -> None:
    assert duration_ns("1.5s") == 1_500_000_000
    assert duration_ns("1h2m") == 3_720_000_000_000
    assert duration_ns("1.0000001ms") == 1_000_000
    assert duration_ns("2us") == duration_ns("2\u00b5s") == 2_000
    assert duration_ns("0") == 0
    assert duration_ns("-1m") == -60_000_000_000
    with pytest.raises(ValueError):
        duration_ns("1")


def test_zero_is_allowed_where_the_crd_has_no_1ms_rule() -> None:
    assert Duration != NonNegativeDuration
    spec = DestinationRuleSpec.model_validate(_spec(REVIEWS_DR))
    assert spec.traffic_policy is not None and spec.traffic_policy.connection_pool is not None
    assert spec.traffic_policy.connection_pool.tcp is not None
    assert spec.traffic_policy.connection_pool.tcp.idle_timeout == "0s"
    data = {"host": "r", "trafficPolicy": {"connectionPool": {"tcp": {"idleTimeout": "-1s"}}}}
    assert _errors(DestinationRuleSpec, data) == [
        (("trafficPolicy", "connectionPool", "tcp", "idleTimeout"), "value_error")
    ]


def test_bounds_and_required_fields_follow_the_crd() -> None:
    assert _errors(ServiceEntrySpec, {"hosts": []}) == [(("hosts",), "too_short")]
    assert _errors(ServiceEntrySpec, {"hosts": ["a"], "ports": [{"number": -1, "name": "p"}]}) == [
        (("ports", 0, "number"), "greater_than_equal")
    ]
    assert _errors(VirtualServiceSpec, {"http": [{"route": [{"weight": 1}]}]}) == [
        (("http", 0, "route", 0, "destination"), "missing")
    ]
    assert _errors(
        DestinationRuleSpec, {"trafficPolicy": {"loadBalancer": {"simple": "FASTEST"}}}
    ) == [
        (("host",), "missing"),
        (("trafficPolicy", "loadBalancer", "simple"), "literal_error"),
    ]


def test_both_spellings_of_mirror_percent_are_kept_apart_and_deprecated() -> None:
    route = HTTPRoute.model_validate({"mirror_percent": 5})
    assert (route.mirror_percent, route.mirror_percent_camel) == (5, None)
    route = HTTPRoute.model_validate({"mirrorPercent": 7})
    assert (route.mirror_percent, route.mirror_percent_camel) == (None, 7)
    deprecated = {name for name, info in HTTPRoute.model_fields.items() if is_deprecated(info)}
    assert deprecated == {"mirror_percent", "mirror_percent_camel"}


def test_snake_case_keys_are_refused_when_validating_by_alias_only() -> None:
    """populate_by_name lets Python code build models; YAML should be read with by_name=False."""
    data = {"perTryTimeout": "1s", "retry_on": "5xx"}
    assert HTTPRoute.model_validate({"retries": data}).retries is not None
    with pytest.raises(ValidationError) as caught:
        HTTPRoute.model_validate({"retries": data}, by_name=False)
    assert [e["loc"] for e in caught.value.errors()] == [("retries", "retry_on")]


def test_models_are_frozen() -> None:
    match = StringMatch(exact="/a")
    with pytest.raises(ValidationError):
        match.exact = "/b"  # type: ignore[misc]


DEPLOYMENT = """
replicas: 0
revisionHistoryLimit: 10
strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
selector:
  matchLabels: {app: reviews, version: v1}
  matchExpressions:
  - {key: tier, operator: In, values: [backend]}
template:
  metadata:
    labels: {app: reviews, version: v1}
    annotations: {sidecar.istio.io/inject: "true"}
    creationTimestamp: null
  spec:
    serviceAccountName: bookinfo-reviews
    containers:
    - name: reviews
      image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.2
      ports: [{containerPort: 9080}]
      resources: {limits: {cpu: 500m}}
      securityContext: {runAsUser: 1000}
    volumes: [{name: tmp, emptyDir: {}}]
"""


def test_deployment_with_many_unknown_fields_is_read() -> None:
    spec = WorkloadSpec.model_validate(_spec(DEPLOYMENT))
    assert spec.replicas == 0
    assert spec.selector is not None and spec.selector.match_labels == {
        "app": "reviews",
        "version": "v1",
    }
    assert spec.selector.match_expressions == [
        {"key": "tier", "operator": "In", "values": ["backend"]}
    ]
    assert spec.template.metadata.labels == {"app": "reviews", "version": "v1"}
    assert WorkloadSpec.model_validate({}).template.metadata.labels == {}


def test_service_ports_and_cluster_ip_alias() -> None:
    spec = ServiceSpec.model_validate(
        {
            "selector": {"app": "reviews"},
            "clusterIP": "None",
            "sessionAffinity": "None",
            "ports": [
                {"name": "http", "port": 9080, "targetPort": 9080},
                {"port": 9443, "targetPort": "https", "appProtocol": "https", "nodePort": 30001},
            ],
        }
    )
    assert spec.cluster_ip == "None"
    assert spec.ports is not None
    assert [p.target_port for p in spec.ports] == [9080, "https"]
    assert spec.ports[1].app_protocol == "https"
