"""VirtualService spec (networking.istio.io v1/v1beta1/v1alpha3 share one schema).

Class names follow the messages in istio/api ``networking/v1alpha3/virtual_service.proto``;
every field of the CRD is kept, deprecated ones too, so the deprecation check can see them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.model.base import IstioModel
from reconciler.model.common import (
    Duration,
    ExclusiveFieldsModel,
    Int32,
    Percent,
    PortSelector,
    StringMatch,
    UInt32,
    deprecated,
)

__all__ = [
    "Abort",
    "CorsPolicy",
    "Delay",
    "Delegate",
    "Destination",
    "HTTPBody",
    "HTTPDirectResponse",
    "HTTPFaultInjection",
    "HTTPMatchRequest",
    "HTTPMirrorPolicy",
    "HTTPRedirect",
    "HTTPRetry",
    "HTTPRewrite",
    "HTTPRoute",
    "HTTPRouteDestination",
    "HeaderOperations",
    "Headers",
    "L4MatchAttributes",
    "RegexRewrite",
    "RouteDestination",
    "TCPRoute",
    "TLSMatchAttributes",
    "TLSRoute",
    "VirtualServiceSpec",
]


class Destination(IstioModel):
    """A service (registry host), optionally narrowed to a DestinationRule subset and a port."""

    host: str
    subset: str | None = None
    port: PortSelector | None = None


class HeaderOperations(IstioModel):
    """Header edits applied to a request or a response."""

    set: dict[str, str] | None = None
    add: dict[str, str] | None = None
    remove: list[str] | None = None


class Headers(IstioModel):
    """Header edits for both directions of an HTTP route or route destination."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPMatchRequest(IstioModel):
    """One match condition; fields are ANDed, the route's match list is ORed."""

    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] | None = None
    port: UInt32 | None = None
    source_labels: dict[str, str] | None = None
    gateways: list[str] | None = None
    query_params: dict[str, StringMatch] | None = None
    ignore_uri_case: bool | None = None
    without_headers: dict[str, StringMatch] | None = None
    source_namespace: str | None = None
    stat_prefix: str | None = None


class HTTPRouteDestination(IstioModel):
    """A weighted destination of an HTTP route; weights are relative, not percentages."""

    destination: Destination
    weight: Int32 | None = None
    headers: Headers | None = None


class RouteDestination(IstioModel):
    """A weighted destination of a TCP or TLS route."""

    destination: Destination
    weight: Int32 | None = None


class HTTPRedirect(ExclusiveFieldsModel):
    """A 301 (or ``redirectCode``) answer instead of forwarding."""

    exclusive_fields = (("port", "derive_port"),)

    uri: str | None = None
    prefix_rewrite: str | None = None
    authority: str | None = None
    port: UInt32 | None = None
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: str | None = None
    redirect_code: UInt32 | None = None


class HTTPBody(ExclusiveFieldsModel):
    """The body of a direct response: text, or base64 ``bytes``."""

    exclusive_fields = (("string", "bytes"),)

    string: str | None = None
    bytes: str | None = None


class HTTPDirectResponse(IstioModel):
    """A fixed answer instead of forwarding."""

    status: UInt32
    body: HTTPBody | None = None


class Delegate(IstioModel):
    """Hands the route over to another VirtualService (only from a gateway-bound root)."""

    name: str | None = None
    namespace: str | None = None


class RegexRewrite(IstioModel):
    """An RE2 rewrite of the path."""

    match: str | None = None
    rewrite: str | None = None


class HTTPRewrite(IstioModel):
    """Rewrites of the URI or authority before forwarding."""

    uri: str | None = None
    authority: str | None = None
    uri_regex_rewrite: RegexRewrite | None = None


class HTTPRetry(IstioModel):
    """Retry policy; ``retryOn`` is a comma-separated list of Envoy policies or status codes."""

    attempts: Int32 | None = None
    per_try_timeout: Duration | None = None
    retry_on: str | None = None
    retry_remote_localities: bool | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: Duration | None = None


class CorsPolicy(IstioModel):
    """CORS settings; ``allowOrigin`` (exact strings) was replaced by ``allowOrigins``."""

    allow_origin: list[str] | None = deprecated("allowOrigins")
    allow_origins: list[StringMatch] | None = None
    allow_methods: list[str] | None = None
    allow_headers: list[str] | None = None
    expose_headers: list[str] | None = None
    max_age: Duration | None = None
    allow_credentials: bool | None = None
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | None = None


class Delay(ExclusiveFieldsModel):
    """Injected delay; the integer ``percent`` predates the finer ``percentage``."""

    exclusive_fields = (("fixed_delay", "exponential_delay"),)

    fixed_delay: Duration | None = None
    exponential_delay: Duration | None = None
    percent: Int32 | None = deprecated("percentage")
    percentage: Percent | None = None


class Abort(ExclusiveFieldsModel):
    """Injected error: an HTTP status, a gRPC status or an HTTP/2 error."""

    exclusive_fields = (("http_status", "grpc_status", "http2_error"),)

    http_status: Int32 | None = None
    grpc_status: str | None = None
    http2_error: str | None = Field(default=None, alias="http2Error")
    percentage: Percent | None = None


class HTTPFaultInjection(IstioModel):
    """Fault injection on the client side of the route."""

    delay: Delay | None = None
    abort: Abort | None = None


class HTTPMirrorPolicy(IstioModel):
    """One of several mirror targets (``mirrors``), each with its own percentage."""

    destination: Destination
    percentage: Percent | None = None


class HTTPRoute(IstioModel):
    """One HTTP rule: match conditions and what to do with matching requests.

    The CRD has the deprecated mirror percentage under two keys, ``mirrorPercent`` and the
    proto's own ``mirror_percent``; both are kept. The Python name ``mirror_percent`` is the
    snake-case key, so that the camel-case one needs another name (``mirror_percent_camel``):
    with ``populate_by_name`` a field name equal to another field's alias would read the
    same YAML key twice.
    """

    name: str | None = None
    match: list[HTTPMatchRequest] | None = None
    route: list[HTTPRouteDestination] | None = None
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: list[HTTPMirrorPolicy] | None = None
    mirror_percent_camel: UInt32 | None = deprecated("mirrorPercentage", alias="mirrorPercent")
    mirror_percent: UInt32 | None = deprecated("mirrorPercentage", alias="mirror_percent")
    mirror_percentage: Percent | None = None
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None


class L4MatchAttributes(IstioModel):
    """Match conditions of a TCP route."""

    destination_subnets: list[str] | None = None
    port: UInt32 | None = None
    source_subnet: str | None = None
    source_labels: dict[str, str] | None = None
    gateways: list[str] | None = None
    source_namespace: str | None = None


class TLSMatchAttributes(IstioModel):
    """Match conditions of a TLS route; ``sniHosts`` is required."""

    sni_hosts: list[str]
    destination_subnets: list[str] | None = None
    port: UInt32 | None = None
    source_labels: dict[str, str] | None = None
    gateways: list[str] | None = None
    source_namespace: str | None = None


class TCPRoute(IstioModel):
    """One opaque-TCP rule."""

    match: list[L4MatchAttributes] | None = None
    route: list[RouteDestination] | None = None


class TLSRoute(IstioModel):
    """One rule for unterminated TLS, routed by SNI."""

    match: list[TLSMatchAttributes]
    route: list[RouteDestination] | None = None


class VirtualServiceSpec(IstioModel):
    """spec of a VirtualService: the hosts it applies to and the ordered rules per protocol."""

    hosts: list[str] | None = None
    gateways: list[str] | None = None
    http: list[HTTPRoute] | None = None
    tls: list[TLSRoute] | None = None
    tcp: list[TCPRoute] | None = None
    export_to: list[str] | None = None
