"""Checks within one VirtualService: weights, duplicate destinations, rule and match order.

Istio evaluates http, tls and tcp rules top to bottom and stops at the first match, so a rule
after a catch-all never runs, and a match that an earlier match already covers never decides
anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from reconciler.checks.walk import VirtualService, conditions, matches_everything, route_lists
from reconciler.findings import Finding
from reconciler.model.common import StringMatch
from reconciler.model.hosts import covers, fqdn
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import (
    HTTPMatchRequest,
    HTTPRoute,
    L4MatchAttributes,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
)


def check_routes(snap: Snapshot) -> Iterator[Finding]:
    for vs in snap.virtual_services:
        for path, route in route_lists(vs):
            yield from _weights(vs, path, route)
            yield from _duplicate_destinations(vs, path, route)
        yield from _rule_order(vs, "http", vs.spec.http or [], _match_covers, matches_everything)
        yield from _rule_order(vs, "tcp", vs.spec.tcp or [], _l4_covers, _l4_takes_all)
        yield from _rule_order(vs, "tls", vs.spec.tls or [], _l4_covers, _l4_takes_all)


def _weights(vs: VirtualService, path: str, route: Sequence[Any]) -> Iterator[Finding]:
    weights = [entry.weight for entry in route]
    negative = [(i, w) for i, w in enumerate(weights) if w is not None and w < 0]
    for index, weight in negative:
        # the CRD takes any int32; Istio's validating webhook rejects a negative weight
        yield Finding.of(
            "schema",
            f"weight {weight} is negative: Istio rejects the VirtualService (weights are >= 0)",
            **vs.where(f"{path}[{index}].weight"),
        )
    if negative:
        return  # sums with a negative part mean nothing
    if len(route) == 1:
        # Kiali's KIA1104 range: 0 is proto3's "unset", which Istio reads as the default.
        weight = weights[0]
        if weight is not None and 0 < weight < 100:
            yield Finding.of(
                "single-destination-weight",
                f"the only destination has weight {weight}, but gets 100% of the traffic",
                **vs.where(f"{path}[0].weight"),
            )
        return
    total = sum(w or 0 for w in weights)
    if total == 0:
        yield Finding.of(
            "weights-zero",
            f"the {len(route)} destinations have a total weight of 0: no traffic can be routed",
            **vs.where(path),
        )
    elif total != 100:
        shown = " + ".join(str(w or 0) for w in weights)
        yield Finding.of(
            "weights-not-100",
            f"weights add up to {total} ({shown}), not 100",
            **vs.where(path),
        )


def _duplicate_destinations(
    vs: VirtualService, path: str, route: Sequence[Any]
) -> Iterator[Finding]:
    seen: dict[tuple[str, str | None, int | None], int] = {}
    for index, entry in enumerate(route):
        dest = entry.destination
        key = (fqdn(dest.host, vs.namespace), dest.subset, dest.port.number if dest.port else None)
        if key in seen:
            subset = f" subset {dest.subset}" if dest.subset else ""
            yield Finding.of(
                "duplicate-route-destination",
                f"{dest.host}{subset} is already destination {seen[key]} of this route",
                **vs.where(f"{path}[{index}].destination"),
            )
        else:
            seen[key] = index


Covers = Callable[[Any, Any], bool]


def _rule_order(
    vs: VirtualService,
    protocol: str,
    rules: Sequence[HTTPRoute | TCPRoute | TLSRoute],
    covers_match: Covers,
    takes_all: Callable[[Any], bool],
) -> Iterator[Finding]:
    """First match wins: a rule after a catch-all, or whose every match an earlier rule
    already takes, never runs (IST0130); a match that an earlier one (of an earlier rule or of
    the same rule) already takes never decides anything (IST0131)."""
    earlier: list[tuple[int, Any]] = []
    catch_all: int | None = None
    for index, rule in enumerate(rules):
        name = _rule_name(rule, index)
        if catch_all is not None:
            yield Finding.of(
                "unreachable-rule",
                f"{protocol} rule {name} is never used: rule {catch_all} before it matches "
                "every request",
                **vs.where(f"spec.{protocol}[{index}]"),
            )
            continue
        matches: Sequence[Any] = rule.match or []
        by_rules = [_covering(match, earlier, covers_match) for match in matches]
        if matches and all(by is not None for by in by_rules):
            yield Finding.of(
                "unreachable-rule",
                f"{protocol} rule {name} is never used: every one of its matches is covered by "
                f"an earlier rule ({', '.join(sorted({str(by) for by in by_rules}))})",
                **vs.where(f"spec.{protocol}[{index}].match"),
            )
            # as istioctl: a match that repeats an earlier one is also reported by itself
            for m_index, match in enumerate(matches):
                twin = _covering(
                    match, earlier, lambda a, b: covers_match(a, b) and covers_match(b, a)
                )
                if twin is not None:
                    yield Finding.of(
                        "ineffective-match",
                        f"match {m_index} of {protocol} rule {name} repeats a match of rule {twin}",
                        **vs.where(f"spec.{protocol}[{index}].match[{m_index}]"),
                    )
        else:
            own: list[tuple[int, Any]] = []
            for m_index, match in enumerate(matches):
                by, same = by_rules[m_index], _covering(match, own, covers_match)
                if by is not None or same is not None:
                    what = f"rule {by}" if by is not None else f"match {same} of the same rule"
                    yield Finding.of(
                        "ineffective-match",
                        f"match {m_index} of {protocol} rule {name} never decides: {what} "
                        "already matches all of its requests",
                        **vs.where(f"spec.{protocol}[{index}].match[{m_index}]"),
                    )
                own.append((m_index, match))
        earlier.extend((index, match) for match in matches)
        if not matches or any(takes_all(match) for match in matches):
            catch_all = index


def _rule_name(rule: HTTPRoute | TCPRoute | TLSRoute, index: int) -> str:
    name = getattr(rule, "name", None)
    return f"{index} ({name})" if name else str(index)


def _covering(match: Any, earlier: list[tuple[int, Any]], covers_match: Covers) -> int | None:
    for index, candidate in earlier:
        if covers_match(candidate, match):
            return index
    return None


def _l4_takes_all(match: L4MatchAttributes | TLSMatchAttributes) -> bool:
    fields = _set_fields(match)
    if isinstance(match, TLSMatchAttributes):
        return set(fields) == {"sni_hosts"} and "*" in match.sni_hosts
    return not fields


def _l4_covers(
    general: L4MatchAttributes | TLSMatchAttributes,
    specific: L4MatchAttributes | TLSMatchAttributes,
) -> bool:
    """Whether every connection ``specific`` matches is also matched by ``general``."""
    narrow = _set_fields(specific)
    for name, condition in _set_fields(general).items():
        other = narrow.get(name)
        if other is None:
            return False
        if name == "sni_hosts":
            if not all(any(covers(g, s) for g in condition) for s in other):
                return False
        elif name in ("destination_subnets", "gateways"):
            if not set(other) <= set(condition):
                return False
        elif name == "source_labels":
            if any(other.get(key) != value for key, value in condition.items()):
                return False
        elif condition != other:
            return False
    return True


def _set_fields(match: L4MatchAttributes | TLSMatchAttributes) -> dict[str, Any]:
    return {
        name: getattr(match, name)
        for name in match.model_fields_set
        if getattr(match, name) not in (None, [], {})
    }


def _match_covers(general: HTTPMatchRequest, specific: HTTPMatchRequest) -> bool:
    """Whether every request ``specific`` matches is also matched by ``general``."""
    if matches_everything(general):
        return True
    narrow = conditions(specific)
    for name, condition in conditions(general).items():
        other = narrow.get(name)
        if other is None:
            return False
        if name == "uri":
            if general.ignore_uri_case != specific.ignore_uri_case:
                return False
            if not _string_covers(condition, other):
                return False
        elif name in ("headers", "query_params"):
            if any(
                key not in other or not _string_covers(value, other[key])
                for key, value in condition.items()
            ):
                return False
        elif name in ("scheme", "method", "authority"):
            if not _string_covers(condition, other):
                return False
        elif name in ("source_labels", "without_headers"):
            if any(other.get(key) != value for key, value in condition.items()):
                return False
        elif name == "gateways":
            if not set(other) <= set(condition):
                return False
        elif condition != other:
            return False
    return True


def _string_covers(general: StringMatch, specific: StringMatch) -> bool:
    if general == specific:
        return True
    if general.prefix is not None:
        narrow = specific.exact if specific.exact is not None else specific.prefix
        return narrow is not None and narrow.startswith(general.prefix)
    return False
