"""DestinationRule spec (networking.istio.io v1/v1beta1/v1alpha3 share one schema).

Class names follow istio/api ``networking/v1alpha3/destination_rule.proto`` (nested messages
lose their parent prefix: ``TrafficPolicy.PortTrafficPolicy`` is ``PortTrafficPolicy``).
Names with digits get explicit aliases: pydantic's ``to_camel`` turns ``consecutive_5xx_errors``
into ``consecutive5XxErrors``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from reconciler.model.base import IstioModel
from reconciler.model.common import (
    Duration,
    ExclusiveFieldsModel,
    Int32,
    MatchLabelsWorkloadSelector,
    NonNegativeDuration,
    PortSelector,
    UInt32,
    UInt64,
    deprecated,
)

__all__ = [
    "ClientTLSSettings",
    "ConnectionPoolSettings",
    "ConsistentHashLB",
    "DestinationRuleSpec",
    "Distribute",
    "Failover",
    "HTTP2KeepAlive",
    "HTTPCookie",
    "HTTPCookieAttribute",
    "HTTPSettings",
    "LoadBalancerSettings",
    "LocalityLoadBalancerSetting",
    "MagLev",
    "OutlierDetection",
    "PortTrafficPolicy",
    "ProxyProtocol",
    "RetryBudget",
    "RingHash",
    "Subset",
    "TCPKeepalive",
    "TCPSettings",
    "TrafficPolicy",
    "TunnelSettings",
    "WarmupConfiguration",
    "ZoneAwareLoadBalancerSetting",
]

Percentage = Annotated[float, Field(ge=0, le=100)]
HTTPStatus = Annotated[int, Field(ge=100, le=599)]
SimpleLB = Literal[
    "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
]


class HTTPCookieAttribute(IstioModel):
    """An extra attribute (e.g. SameSite) of the generated session-affinity cookie."""

    name: str
    value: str | None = None


class HTTPCookie(IstioModel):
    """Hash on a cookie; Envoy generates it when absent, for ``ttl`` (0 = session cookie)."""

    name: str
    path: str | None = None
    ttl: NonNegativeDuration | None = None
    attributes: list[HTTPCookieAttribute] | None = None


class RingHash(IstioModel):
    """Ketama ring hash."""

    minimum_ring_size: UInt64 | None = None


class MagLev(IstioModel):
    """Maglev hash; Istio requires a prime ``tableSize``."""

    table_size: UInt64 | None = None


class ConsistentHashLB(ExclusiveFieldsModel):
    """Session affinity: one hash key, and one of ring hash or maglev."""

    exclusive_fields = (
        ("http_header_name", "http_cookie", "use_source_ip", "http_query_parameter_name"),
        ("ring_hash", "maglev"),
    )

    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    minimum_ring_size: UInt64 | None = deprecated("ringHash.minimumRingSize")


class Distribute(IstioModel):
    """Weighted traffic split from one locality to others."""

    from_: str | None = Field(default=None, alias="from")
    to: dict[str, UInt32] | None = None


class Failover(IstioModel):
    """Failover from one region to another."""

    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class LocalityLoadBalancerSetting(IstioModel):
    """Locality-weighted or failover load balancing."""

    distribute: list[Distribute] | None = None
    failover: list[Failover] | None = None
    failover_priority: list[str] | None = None
    enabled: bool | None = None


class ZoneAwareLoadBalancerSetting(IstioModel):
    """Envoy's zone-aware routing, which only kicks in above ``minClusterSize`` hosts."""

    enabled: bool | None = None
    failover: list[Failover] | None = None
    failover_priority: list[str] | None = None
    min_cluster_size: Annotated[int, Field(ge=1, le=2**64 - 1)] | None = None


class WarmupConfiguration(IstioModel):
    """Slow start for new endpoints."""

    duration: Duration
    minimum_percent: Percentage | None = None
    aggression: Annotated[float, Field(ge=0)] | None = None


class LoadBalancerSettings(ExclusiveFieldsModel):
    """Load-balancing algorithm: a ``simple`` one or ``consistentHash``, not both."""

    exclusive_fields = (("simple", "consistent_hash"),)

    simple: SimpleLB | None = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    warmup_duration_secs: Duration | None = deprecated("warmup")
    warmup: WarmupConfiguration | None = None
    zone_aware_lb_setting: ZoneAwareLoadBalancerSetting | None = None


class TCPKeepalive(IstioModel):
    """SO_KEEPALIVE settings of upstream connections."""

    probes: UInt32 | None = None
    time: Duration | None = None
    interval: Duration | None = None


class TCPSettings(IstioModel):
    """Limits common to TCP and HTTP upstream connections."""

    max_connections: Int32 | None = None
    connect_timeout: Duration | None = None
    tcp_keepalive: TCPKeepalive | None = None
    max_connection_duration: Duration | None = None
    idle_timeout: NonNegativeDuration | None = None


class HTTP2KeepAlive(IstioModel):
    """HTTP/2 PING frames on upstream connections."""

    interval: Duration | None = None
    timeout: Duration | None = None


class HTTPSettings(IstioModel):
    """HTTP connection-pool limits (the circuit breaker)."""

    http1_max_pending_requests: Int32 | None = Field(default=None, alias="http1MaxPendingRequests")
    http2_max_requests: Int32 | None = Field(default=None, alias="http2MaxRequests")
    max_requests_per_connection: Int32 | None = None
    max_retries: Int32 | None = None
    idle_timeout: Duration | None = None
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = Field(
        default=None, alias="h2UpgradePolicy"
    )
    use_client_protocol: bool | None = None
    max_concurrent_streams: Int32 | None = None
    http2_keep_alive: HTTP2KeepAlive | None = Field(default=None, alias="http2KeepAlive")


class ConnectionPoolSettings(IstioModel):
    """Connection limits toward the upstream."""

    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(IstioModel):
    """Ejection of failing endpoints; ``consecutiveErrors`` predates the 5xx/gateway split."""

    consecutive_errors: Int32 | None = deprecated("consecutive5xxErrors")
    split_external_local_origin_errors: bool | None = None
    consecutive_local_origin_failures: UInt32 | None = None
    consecutive_gateway_errors: UInt32 | None = None
    consecutive_5xx_errors: UInt32 | None = Field(default=None, alias="consecutive5xxErrors")
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: Int32 | None = None
    min_health_percent: Int32 | None = None
    outlier_detection_http_error_codes: list[HTTPStatus] | None = None


class ClientTLSSettings(IstioModel):
    """TLS originated by the sidecar or gateway toward the upstream."""

    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | None = None
    client_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    credential_name: str | None = None
    subject_alt_names: list[str] | None = None
    sni: str | None = None
    insecure_skip_verify: bool | None = None
    ca_crl: str | None = None


class PortTrafficPolicy(IstioModel):
    """A traffic policy for one port, replacing (not merging with) the rule-level settings."""

    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TunnelSettings(IstioModel):
    """Tunnel TCP over HTTP CONNECT or POST to ``targetHost:targetPort``."""

    protocol: str | None = None
    target_host: str
    target_port: UInt32


class ProxyProtocol(IstioModel):
    """Send a PROXY protocol header upstream."""

    version: Literal["V1", "V2"] | None = None


class RetryBudget(IstioModel):
    """Caps concurrent retries as a share of active requests."""

    percent: Percentage | None = None
    min_retry_concurrency: UInt32 | None = None
    budget_interval: NonNegativeDuration | None = None


class TrafficPolicy(IstioModel):
    """Policies applied to traffic for a host or subset after routing chose it."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: list[PortTrafficPolicy] | None = Field(default=None, max_length=4096)
    tunnel: TunnelSettings | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None


class Subset(IstioModel):
    """A named group of endpoints selected by labels, the target of ``destination.subset``."""

    name: str
    labels: dict[str, str] | None = None
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(IstioModel):
    """spec of a DestinationRule: policies and subsets for one host."""

    host: str
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] | None = None
    export_to: list[str] | None = None
    workload_selector: MatchLabelsWorkloadSelector | None = None
