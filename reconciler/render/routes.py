"""VirtualService http rules as Envoy routes, in istiod's order and with its defaults.

Each rule gives one route per match condition (conditions are ORed); a rule without match
is a catch-all, and nothing after a catch-all is generated, as istiod cuts it off. Matches
that cannot apply to this proxy (another port, another gateway, source labels or namespace
the proxy does not have) are dropped before that.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from reconciler.model.common import StringMatch
from reconciler.model.hosts import gateway_reference
from reconciler.model.resources import Resource
from reconciler.model.virtualservice import (
    CorsPolicy,
    Destination,
    Headers,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRedirect,
    HTTPRetry,
    HTTPRoute,
    VirtualServiceSpec,
)
from reconciler.render.values import duration, fraction_of, percent_value, typed

DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"
_REDIRECT_CODES = {
    301: "MOVED_PERMANENTLY",
    302: "FOUND",
    303: "SEE_OTHER",
    307: "TEMPORARY_REDIRECT",
    308: "PERMANENT_REDIRECT",
}

ClusterOf = Callable[[Destination, str, int], str | None]
"""(destination, VirtualService namespace, listener port) -> cluster name, or None when the
host is unknown."""


@dataclass(frozen=True)
class Proxy:
    """Who the routes are for: a sidecar in a namespace, or a Gateway (``ns/name``)."""

    namespace: str
    gateway: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass
class RouteContext:
    proxy: Proxy
    port: int
    cluster_of: ClusterOf
    notes: list[str] = field(default_factory=list)
    hash_policies: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)


def virtual_service_routes(
    vs: Resource[VirtualServiceSpec], context: RouteContext
) -> list[dict[str, Any]]:
    """The Envoy routes of ``vs``'s http rules for one listener port, in order."""
    routes: list[dict[str, Any]] = []
    for index, rule in enumerate(vs.spec.http or ()):
        matches: list[HTTPMatchRequest | None] = [*rule.match] if rule.match else [None]
        for match in matches:
            if match is not None and not _applies(match, vs, context):
                continue
            route = _route(vs, index, rule, match, context)
            if route is None:
                break
            routes.append(route)
            if is_catch_all(route["match"]):
                return routes
    return routes


def is_catch_all(match: dict[str, Any]) -> bool:
    """A match every request meets: nothing after it is reachable."""
    path = match.get("prefix") == "/" or match.get("safe_regex", {}).get("regex") in (".*", "*")
    return path and not match.get("headers") and not match.get("query_parameters")


def _applies(
    match: HTTPMatchRequest, vs: Resource[VirtualServiceSpec], context: RouteContext
) -> bool:
    proxy = context.proxy
    if match.port is not None and match.port != context.port:
        return False
    if match.gateways:
        names = {gateway_reference(g, vs.namespace)[:2] for g in match.gateways if g != "mesh"}
        if proxy.gateway is None:
            return "mesh" in match.gateways
        return tuple(proxy.gateway.split("/", 1)) in names
    if match.source_namespace and match.source_namespace != proxy.namespace:
        return False
    labels = dict(proxy.labels)
    return all(labels.get(k) == v for k, v in (match.source_labels or {}).items())


def _route(
    vs: Resource[VirtualServiceSpec],
    index: int,
    rule: HTTPRoute,
    match: HTTPMatchRequest | None,
    context: RouteContext,
) -> dict[str, Any] | None:
    route: dict[str, Any] = {"match": envoy_match(match)}
    names = [n for n in (rule.name, match.name if match else None) if n]
    if names:
        route["name"] = ".".join(names)
    route["metadata"] = {
        "filter_metadata": {
            "istio": {
                "config": f"/apis/networking.istio.io/v1/namespaces/{vs.namespace}"
                f"/virtual-service/{vs.name}",
                "rule": index,
            }
        }
    }
    if rule.redirect is not None:
        route["redirect"] = _redirect(rule.redirect, context, vs)
    elif rule.direct_response is not None:
        body = rule.direct_response.body
        response: dict[str, Any] = {"status": rule.direct_response.status}
        if body is not None and body.string is not None:
            response["body"] = {"inline_string": body.string}
        elif body is not None and body.bytes is not None:
            response["body"] = {
                "inline_bytes": base64.b64encode(base64.b64decode(body.bytes)).decode()
            }
        route["direct_response"] = response
    elif rule.route:
        action = _forward(vs, rule, context)
        if action is None:
            return None
        route["route"] = action
    else:
        context.notes.append(
            f"VirtualService {vs.namespace}/{vs.name} http[{index}]: delegate is not rendered"
        )
        return None
    _headers(route, rule.headers)
    filters: dict[str, Any] = {}
    if rule.fault is not None:
        fault = _fault(rule.fault)
        if fault:
            filters[FAULT_FILTER] = fault
    if rule.cors_policy is not None:
        filters[CORS_FILTER] = _cors(rule.cors_policy)
    if filters:
        route["typed_per_filter_config"] = filters
    return route


def envoy_match(match: HTTPMatchRequest | None) -> dict[str, Any]:
    """An Istio match condition as an Envoy RouteMatch."""
    result: dict[str, Any]
    uri = match.uri if match else None
    if uri is None or (uri.exact is None and uri.prefix is None and uri.regex is None):
        result = {"prefix": "/"}
    elif uri.exact is not None:
        result = {"path": uri.exact}
    elif uri.prefix is not None:
        result = {"prefix": uri.prefix}
    else:
        result = {"safe_regex": {"regex": uri.regex}}
    if match is None:
        return result
    if match.ignore_uri_case:
        result["case_sensitive"] = False
    headers = [_header(name, value) for name, value in (match.headers or {}).items()]
    headers += [
        {**_header(name, value), "invert_match": True}
        for name, value in (match.without_headers or {}).items()
    ]
    for pseudo, value in (
        (":method", match.method),
        (":authority", match.authority),
        (":scheme", match.scheme),
    ):
        if value is not None:
            headers.append(_header(pseudo, value))
    if headers:
        result["headers"] = sorted(headers, key=lambda h: (h["name"], h.get("invert_match", False)))
    if match.query_params:
        result["query_parameters"] = [
            _query(name, match.query_params[name]) for name in sorted(match.query_params)
        ]
    return result


def _string_match(value: StringMatch) -> dict[str, Any] | None:
    if value.exact is not None:
        return {"exact": value.exact}
    if value.prefix is not None:
        return {"prefix": value.prefix}
    if value.regex is not None:
        return {"safe_regex": {"regex": value.regex}}
    return None


def _header(name: str, value: StringMatch) -> dict[str, Any]:
    matcher = _string_match(value)
    if matcher is None:
        return {"name": name.lower(), "present_match": True}
    return {"name": name.lower(), "string_match": matcher}


def _query(name: str, value: StringMatch) -> dict[str, Any]:
    matcher = _string_match(value)
    if matcher is None or matcher == {"exact": ""}:
        return {"name": name, "present_match": True}
    return {"name": name, "string_match": matcher}


def _forward(
    vs: Resource[VirtualServiceSpec], rule: HTTPRoute, context: RouteContext
) -> dict[str, Any] | None:
    destinations = rule.route or []
    action: dict[str, Any] = {}
    if len(destinations) == 1:
        cluster = _cluster(destinations[0].destination, vs, context)
        if cluster is None:
            return None
        action["cluster"] = cluster
        hashing = context.hash_policies.get(cluster)
        if hashing:
            action["hash_policy"] = hashing
    else:
        weighted = []
        for entry in destinations:
            if not entry.weight:
                continue
            cluster = _cluster(entry.destination, vs, context)
            if cluster is None:
                return None
            item: dict[str, Any] = {"name": cluster, "weight": entry.weight}
            _headers(item, entry.headers)
            weighted.append(item)
        if not weighted:
            context.notes.append(
                f"VirtualService {vs.namespace}/{vs.name}: a route with no weight is not rendered"
            )
            return None
        action["weighted_clusters"] = {"clusters": weighted}
    action["timeout"] = duration(rule.timeout) if rule.timeout else "0s"
    retry = retry_policy(rule.retries)
    if retry is not None and "hash_policy" in action:
        # istiod: with consistent hashing, retries stay on the hashed host.
        retry.pop("retry_host_predicate", None)
    if retry is not None:
        action["retry_policy"] = retry
    if rule.rewrite is not None:
        if rule.rewrite.uri is not None:
            action["prefix_rewrite"] = rule.rewrite.uri
        regex = rule.rewrite.uri_regex_rewrite
        if regex is not None and regex.match is not None:
            action["regex_rewrite"] = {
                "pattern": {"regex": regex.match},
                "substitution": regex.rewrite or "",
            }
        if rule.rewrite.authority is not None:
            action["host_rewrite_literal"] = rule.rewrite.authority
    mirrors = _mirrors(vs, rule, context)
    if mirrors:
        action["request_mirror_policies"] = mirrors
    return action


def _cluster(
    destination: Destination, vs: Resource[VirtualServiceSpec], context: RouteContext
) -> str | None:
    cluster = context.cluster_of(destination, vs.namespace, context.port)
    if cluster is None:
        context.notes.append(
            f"VirtualService {vs.namespace}/{vs.name}: host {destination.host} is not in the "
            "registry; its route is not rendered"
        )
    return cluster


def retry_policy(retries: HTTPRetry | None) -> dict[str, Any] | None:
    """istiod's retry policy: its default when unset, none for ``attempts: 0``."""
    policy: dict[str, Any] = {
        "retry_on": DEFAULT_RETRY_ON,
        "num_retries": 2,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": typed(
                    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                ),
            }
        ],
        "host_selection_retry_max_attempts": 5,
        "retriable_status_codes": [503],
    }
    if retries is None:
        return policy
    if retries.attempts is None or retries.attempts <= 0:
        return None
    policy["num_retries"] = retries.attempts
    if retries.retry_on:
        parts = [p.strip() for p in retries.retry_on.split(",") if p.strip()]
        codes = [int(p) for p in parts if p.isdigit() and _is_status(int(p))]
        names = [p for p in parts if not (p.isdigit() and _is_status(int(p)))]
        if codes and "retriable-status-codes" not in names:
            names.append("retriable-status-codes")
        policy["retry_on"] = ",".join(names)
        policy["retriable_status_codes"] = codes
        if not codes:
            del policy["retriable_status_codes"]
    if retries.per_try_timeout:
        policy["per_try_timeout"] = duration(retries.per_try_timeout)
    if retries.retry_ignore_previous_hosts is False:
        del policy["retry_host_predicate"]
    if retries.backoff:
        policy["retry_back_off"] = {"base_interval": duration(retries.backoff)}
    return policy


def _is_status(code: int) -> bool:
    try:
        HTTPStatus(code)
    except ValueError:
        return False
    return True


def _mirrors(
    vs: Resource[VirtualServiceSpec], rule: HTTPRoute, context: RouteContext
) -> list[dict[str, Any]]:
    targets: list[tuple[Destination, float | None]] = []
    if rule.mirror is not None:
        legacy = (
            rule.mirror_percent if rule.mirror_percent is not None else rule.mirror_percent_camel
        )
        targets.append((rule.mirror, percent_value(rule.mirror_percentage, legacy)))
    targets += [(m.destination, percent_value(m.percentage)) for m in rule.mirrors or ()]
    policies = []
    for destination, percent in targets:
        cluster = _cluster(destination, vs, context)
        if cluster is None:
            continue
        policy: dict[str, Any] = {"cluster": cluster}
        if percent is not None:
            policy["runtime_fraction"] = {"default_value": fraction_of(percent)}
        policies.append(policy)
    return policies


def _redirect(
    redirect: HTTPRedirect, context: RouteContext, vs: Resource[VirtualServiceSpec]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if redirect.uri is not None:
        result["path_redirect"] = redirect.uri
    elif redirect.prefix_rewrite is not None:
        result["prefix_rewrite"] = redirect.prefix_rewrite
    if redirect.authority is not None:
        result["host_redirect"] = redirect.authority
    if redirect.scheme is not None:
        result["scheme_redirect"] = redirect.scheme
    if redirect.port is not None:
        result["port_redirect"] = redirect.port
    code = redirect.redirect_code or 301
    if code in _REDIRECT_CODES:
        if code != 301:
            result["response_code"] = _REDIRECT_CODES[code]
    else:
        context.notes.append(
            f"VirtualService {vs.namespace}/{vs.name}: Envoy cannot redirect with {code}; 301 used"
        )
    return result


def _headers(target: dict[str, Any], headers: Headers | None) -> None:
    """Header edits: ``set`` overwrites, ``add`` appends, ``remove`` removes."""
    if headers is None:
        return
    for direction, operations in (("request", headers.request), ("response", headers.response)):
        if operations is None:
            continue
        added = [
            {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for k, v in sorted((operations.set or {}).items())
        ]
        added += [
            {"header": {"key": k, "value": v}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
            for k, v in sorted((operations.add or {}).items())
        ]
        if added:
            target[f"{direction}_headers_to_add"] = added
        if operations.remove:
            target[f"{direction}_headers_to_remove"] = list(operations.remove)


def _fault(fault: HTTPFaultInjection) -> dict[str, Any] | None:
    """istiod's translation: a share left unset is not set, which Envoy reads as 0% (a fault
    without ``percentage`` injects nothing, a classic surprise the tests pin down)."""
    config: dict[str, Any] = {}
    delay = fault.delay
    if delay is not None and delay.fixed_delay:
        config["delay"] = {"fixed_delay": duration(delay.fixed_delay)}
        share = percent_value(delay.percentage, delay.percent)
        if share is not None:
            config["delay"]["percentage"] = fraction_of(share)
    abort = fault.abort
    if abort is not None and abort.http_status is not None:
        config["abort"] = {"http_status": abort.http_status}
        share = percent_value(abort.percentage)
        if share is not None:
            config["abort"]["percentage"] = fraction_of(share)
    if not config:
        return None
    return typed("envoy.extensions.filters.http.fault.v3.HTTPFault", **config)


def _cors(cors: CorsPolicy) -> dict[str, Any]:
    origins = [m for m in (_string_match(o) for o in cors.allow_origins or ()) if m]
    origins += [{"exact": o} for o in cors.allow_origin or ()]
    config: dict[str, Any] = {}
    if origins:
        config["allow_origin_string_match"] = origins
    if cors.allow_methods:
        config["allow_methods"] = ",".join(cors.allow_methods)
    if cors.allow_headers:
        config["allow_headers"] = ",".join(cors.allow_headers)
    if cors.expose_headers:
        config["expose_headers"] = ",".join(cors.expose_headers)
    if cors.max_age:
        config["max_age"] = str(int(duration(cors.max_age).rstrip("s").split(".")[0]))
    if cors.allow_credentials is not None:
        config["allow_credentials"] = cors.allow_credentials
    return typed("envoy.extensions.filters.http.cors.v3.CorsPolicy", **config)
