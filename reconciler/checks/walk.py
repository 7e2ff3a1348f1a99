"""Ways to walk a VirtualService shared by several checks, each item with its field path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from reconciler.model.resources import Resource
from reconciler.model.virtualservice import (
    Destination,
    HTTPMatchRequest,
    HTTPRoute,
    TCPRoute,
    TLSRoute,
    VirtualServiceSpec,
)

VirtualService = Resource[VirtualServiceSpec]


def route_lists(vs: VirtualService) -> Iterator[tuple[str, Sequence[Any]]]:
    """Every ``route`` list of the http, tls and tcp rules, with its path."""
    for protocol, rules in rule_lists(vs):
        for index, rule in enumerate(rules):
            if rule.route:
                yield f"spec.{protocol}[{index}].route", rule.route


def rule_lists(vs: VirtualService) -> list[tuple[str, Sequence[HTTPRoute | TLSRoute | TCPRoute]]]:
    """The http, tls and tcp rules of a VirtualService, by protocol name."""
    spec = vs.spec
    return [("http", spec.http or ()), ("tls", spec.tls or ()), ("tcp", spec.tcp or ())]


def destinations(vs: VirtualService) -> Iterator[tuple[str, Destination]]:
    """Every destination traffic may go to: route destinations, then mirrors."""
    for path, route in route_lists(vs):
        for index, entry in enumerate(route):
            yield f"{path}[{index}].destination", entry.destination
    for index, rule in enumerate(vs.spec.http or ()):
        if rule.mirror is not None:
            yield f"spec.http[{index}].mirror", rule.mirror
        for m_index, mirror in enumerate(rule.mirrors or ()):
            yield f"spec.http[{index}].mirrors[{m_index}].destination", mirror.destination


def bound_gateways(vs: VirtualService) -> list[str]:
    """The VirtualService's gateway bindings; none listed means the mesh (sidecars)."""
    return list(vs.spec.gateways or ["mesh"])


def matches_everything(match: HTTPMatchRequest) -> bool:
    """Whether an http match takes every request: no condition, or a ``/`` prefix (or ``.*``
    regex) on the URI alone."""
    fields = conditions(match)
    if not fields:
        return True
    uri = match.uri
    if set(fields) == {"uri"} and uri is not None:
        return uri.prefix == "/" or uri.regex in (".*", "/.*")
    return False


def conditions(match: HTTPMatchRequest) -> dict[str, Any]:
    """The conditions a match sets; its name and stat prefix do not change what it matches."""
    return {
        name: getattr(match, name)
        for name in match.model_fields_set
        if name not in ("name", "stat_prefix") and getattr(match, name) is not None
    }
