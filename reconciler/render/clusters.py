"""Clusters: one per service port, and one per DestinationRule subset, as istiod builds them.

Istio does not use Envoy's subset load balancer: a subset's cluster holds only the endpoints
whose labels include the subset's. DestinationRule policies apply with istiod's precedence:
a ``portLevelSettings`` entry for the port replaces the top-level policy whole; a subset's
``trafficPolicy`` then replaces each block (loadBalancer, connectionPool, outlierDetection,
tls) that it sets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from reconciler.model.destinationrule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    DestinationRuleSpec,
    LoadBalancerSettings,
    OutlierDetection,
    Subset,
    TrafficPolicy,
)
from reconciler.model.resources import Resource
from reconciler.render.endpoints import Endpoint
from reconciler.render.registry import HTTP2_PROTOCOLS, MeshService, ServicePort
from reconciler.render.values import NO_LIMIT, duration, typed

DEFAULT_CONNECT_TIMEOUT = "10s"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_SIMPLE_LB = {
    None: "LEAST_REQUEST",
    "UNSPECIFIED": "LEAST_REQUEST",
    "LEAST_CONN": "LEAST_REQUEST",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "ROUND_ROBIN": "ROUND_ROBIN",
    "RANDOM": "RANDOM",
}


@dataclass(frozen=True)
class Policy:
    """The four blocks of a traffic policy that apply to one cluster."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None

    def overridden_by(self, policy: TrafficPolicy | None, port: int) -> Policy:
        """This policy with ``policy``'s blocks (its port-level entry's, for ``port``) on top."""
        if policy is None:
            return self
        level: Any = policy
        for setting in policy.port_level_settings or ():
            if setting.port is not None and setting.port.number == port:
                level = setting
                break
        return replace(
            self,
            **{
                name: getattr(level, name)
                for name in ("load_balancer", "connection_pool", "outlier_detection", "tls")
                if getattr(level, name) is not None
            },
        )


def policy_for(
    rules: list[Resource[DestinationRuleSpec]], port: int, subset: Subset | None
) -> Policy:
    """The policy of a cluster: the first rule's (rules for one host merge, the first wins)."""
    base = Policy().overridden_by(rules[0].spec.traffic_policy, port) if rules else Policy()
    return base.overridden_by(subset.traffic_policy if subset else None, port)


def subsets_of(rules: list[Resource[DestinationRuleSpec]]) -> list[Subset]:
    """Every subset the rules define, the first definition of a name winning."""
    seen: dict[str, Subset] = {}
    for rule in rules:
        for subset in rule.spec.subsets or ():
            seen.setdefault(subset.name, subset)
    return list(seen.values())


def build_cluster(
    name: str,
    service: MeshService,
    port: ServicePort,
    endpoints: list[Endpoint],
    policy: Policy,
    notes: list[str],
) -> dict[str, Any]:
    """One Envoy cluster; what cannot be rendered for a standalone Envoy goes to ``notes``."""
    pool = policy.connection_pool
    tcp = pool.tcp if pool else None
    cluster: dict[str, Any] = {
        "name": name,
        "connect_timeout": duration(tcp.connect_timeout)
        if tcp and tcp.connect_timeout
        else DEFAULT_CONNECT_TIMEOUT,
    }
    cluster.update(_discovery(name, service, port, endpoints, policy))
    cluster["circuit_breakers"] = {"thresholds": [_thresholds(pool)]}
    options = _http_options(pool, port)
    if options:
        cluster["typed_extension_protocol_options"] = {HTTP_OPTIONS: options}
    if policy.outlier_detection is not None:
        cluster.update(_outlier_detection(policy.outlier_detection))
    socket = _tls_socket(policy.tls, service.host, name, notes)
    if socket:
        cluster["transport_socket"] = socket
    if service.external:
        cluster["metadata"] = {"filter_metadata": {"istio": {"external": True}}}
    return cluster


def _discovery(
    name: str,
    service: MeshService,
    port: ServicePort,
    endpoints: list[Endpoint],
    policy: Policy,
) -> dict[str, Any]:
    lb = policy.load_balancer
    if service.resolution == "NONE" or (lb is not None and lb.simple == "PASSTHROUGH"):
        return {"type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED"}
    fields: dict[str, Any] = {"type": "STATIC"}
    if service.resolution in ("DNS", "DYNAMIC_DNS"):
        fields = {"type": "STRICT_DNS", "respect_dns_ttl": True}
    elif service.resolution == "DNS_ROUND_ROBIN":
        fields = {"type": "LOGICAL_DNS", "respect_dns_ttl": True}
        endpoints = endpoints[:1]
    if fields["type"] != "STATIC" and not endpoints:
        endpoints = [Endpoint(service.host, None)]
    fields.update(_load_balancing(lb))
    lb_endpoints = []
    for endpoint in endpoints:
        entry: dict[str, Any] = {
            "endpoint": {
                "address": {
                    "socket_address": {
                        "address": endpoint.address,
                        "port_value": endpoint.port or port.target_port or port.number,
                    }
                }
            }
        }
        if endpoint.weight:
            entry["load_balancing_weight"] = endpoint.weight
        lb_endpoints.append(entry)
    assignment: dict[str, Any] = {"cluster_name": name, "endpoints": []}
    if lb_endpoints:
        assignment["endpoints"] = [{"lb_endpoints": lb_endpoints}]
    fields["load_assignment"] = assignment
    return fields


def _load_balancing(lb: LoadBalancerSettings | None) -> dict[str, Any]:
    hashing = lb.consistent_hash if lb else None
    if hashing is None:
        return {"lb_policy": _SIMPLE_LB.get(lb.simple if lb else None, "LEAST_REQUEST")}
    if hashing.maglev is not None:
        config = {"table_size": hashing.maglev.table_size} if hashing.maglev.table_size else {}
        return {"lb_policy": "MAGLEV", "maglev_lb_config": config}
    ring = hashing.ring_hash.minimum_ring_size if hashing.ring_hash else None
    return {
        "lb_policy": "RING_HASH",
        "ring_hash_lb_config": {"minimum_ring_size": ring or hashing.minimum_ring_size or 1024},
    }


def hash_policy(policy: Policy) -> list[dict[str, Any]] | None:
    """The route ``hash_policy`` a consistent-hash load balancer needs (istiod puts it on
    the routes to the cluster): what to hash requests by."""
    lb = policy.load_balancer
    hashing = lb.consistent_hash if lb else None
    if hashing is None:
        return None
    if hashing.http_header_name:
        return [{"header": {"header_name": hashing.http_header_name}}]
    if hashing.http_cookie is not None:
        cookie: dict[str, Any] = {"name": hashing.http_cookie.name}
        if hashing.http_cookie.path:
            cookie["path"] = hashing.http_cookie.path
        if hashing.http_cookie.ttl:
            cookie["ttl"] = duration(hashing.http_cookie.ttl)
        return [{"cookie": cookie}]
    if hashing.use_source_ip:
        return [{"connection_properties": {"source_ip": True}}]
    if hashing.http_query_parameter_name:
        return [{"query_parameter": {"name": hashing.http_query_parameter_name}}]
    return None


def _thresholds(pool: ConnectionPoolSettings | None) -> dict[str, Any]:
    tcp = pool.tcp if pool else None
    http = pool.http if pool else None

    def limit(value: int | None) -> int:
        return value if value is not None and value > 0 else NO_LIMIT

    return {
        "max_connections": limit(tcp.max_connections if tcp else None),
        "max_pending_requests": limit(http.http1_max_pending_requests if http else None),
        "max_requests": limit(http.http2_max_requests if http else None),
        "max_retries": limit(http.max_retries if http else None),
    }


def _http_options(pool: ConnectionPoolSettings | None, port: ServicePort) -> dict[str, Any]:
    http = pool.http if pool else None
    common: dict[str, Any] = {}
    if http and http.idle_timeout:
        common["idle_timeout"] = duration(http.idle_timeout)
    if http and http.max_requests_per_connection:
        common["max_requests_per_connection"] = http.max_requests_per_connection
    http2 = port.protocol in HTTP2_PROTOCOLS or (
        http is not None and http.h2_upgrade_policy == "UPGRADE"
    )
    if not common and not http2:
        return {}
    options: dict[str, Any] = {}
    if common:
        options["common_http_protocol_options"] = common
    protocol = "http2_protocol_options" if http2 else "http_protocol_options"
    options["explicit_http_config"] = {protocol: {}}
    return typed(HTTP_OPTIONS, **options)


def _outlier_detection(outlier: OutlierDetection) -> dict[str, Any]:
    detection: dict[str, Any] = {"enforcing_success_rate": 0}
    consecutive_5xx = outlier.consecutive_5xx_errors
    if consecutive_5xx is None:
        consecutive_5xx = outlier.consecutive_errors
    if consecutive_5xx is not None:
        detection["consecutive_5xx"] = consecutive_5xx
        detection["enforcing_consecutive_5xx"] = 100 if consecutive_5xx > 0 else 0
    if outlier.consecutive_gateway_errors is not None:
        detection["consecutive_gateway_failure"] = outlier.consecutive_gateway_errors
        detection["enforcing_consecutive_gateway_failure"] = (
            100 if outlier.consecutive_gateway_errors > 0 else 0
        )
    if outlier.interval:
        detection["interval"] = duration(outlier.interval)
    if outlier.base_ejection_time:
        detection["base_ejection_time"] = duration(outlier.base_ejection_time)
    if outlier.max_ejection_percent is not None:
        detection["max_ejection_percent"] = outlier.max_ejection_percent
    if outlier.split_external_local_origin_errors:
        detection["split_external_local_origin_errors"] = True
        if outlier.consecutive_local_origin_failures is not None:
            detection["consecutive_local_origin_failure"] = (
                outlier.consecutive_local_origin_failures
            )
    return {
        "outlier_detection": detection,
        "common_lb_config": {
            "healthy_panic_threshold": {"value": float(outlier.min_health_percent or 0)}
        },
    }


def _tls_socket(
    tls: ClientTLSSettings | None, host: str, cluster: str, notes: list[str]
) -> dict[str, Any] | None:
    if tls is None or tls.mode in (None, "DISABLE"):
        return None
    if tls.mode == "ISTIO_MUTUAL":
        notes.append(f"{cluster}: ISTIO_MUTUAL needs istiod's certificates; rendered without TLS")
        return None
    if tls.credential_name:
        notes.append(
            f"{cluster}: credentialName {tls.credential_name} is a Kubernetes Secret; "
            "rendered without client certificates"
        )
    common: dict[str, Any] = {}
    if tls.ca_certificates:
        common["validation_context"] = {"trusted_ca": {"filename": tls.ca_certificates}}
    if tls.mode == "MUTUAL" and tls.client_certificate and tls.private_key:
        common["tls_certificates"] = [
            {
                "certificate_chain": {"filename": tls.client_certificate},
                "private_key": {"filename": tls.private_key},
            }
        ]
    context = typed(
        "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni=tls.sni or host,
        common_tls_context=common,
    )
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}
