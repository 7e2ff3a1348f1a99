"""Checks within one VirtualService: weights, duplicate destinations, rule and match order.

Istio evaluates http rules top to bottom and stops at the first match, so a rule after a
catch-all never runs, and a match that an earlier match already covers never decides anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from reconciler.checks.walk import VirtualService, route_lists
from reconciler.findings import Finding
from reconciler.model.common import StringMatch
from reconciler.model.hosts import fqdn
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import HTTPMatchRequest, HTTPRoute


def check_routes(snap: Snapshot) -> Iterator[Finding]:
    for vs in snap.virtual_services:
        for path, route in route_lists(vs):
            yield from _weights(vs, path, route)
            yield from _duplicate_destinations(vs, path, route)
        yield from _rule_order(vs, vs.spec.http or [])


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


def _rule_order(vs: VirtualService, rules: list[HTTPRoute]) -> Iterator[Finding]:
    earlier: list[tuple[int, HTTPMatchRequest]] = []
    catch_all: int | None = None
    for index, rule in enumerate(rules):
        if catch_all is not None:
            yield Finding.of(
                "unreachable-rule",
                f"rule {_rule_name(rule, index)} is never used: rule {catch_all} before it "
                "matches every request",
                **vs.where(f"spec.http[{index}]"),
            )
            continue
        matches = rule.match or []
        covered = [_covering(match, earlier) for match in matches]
        if matches and all(c is not None for c in covered):
            yield Finding.of(
                "unreachable-rule",
                f"rule {_rule_name(rule, index)} is never used: every one of its matches is "
                f"covered by an earlier rule ({', '.join(sorted({str(c) for c in covered}))})",
                **vs.where(f"spec.http[{index}].match"),
            )
        else:
            for m_index, by in enumerate(covered):
                if by is not None:
                    yield Finding.of(
                        "ineffective-match",
                        f"match {m_index} of rule {_rule_name(rule, index)} never decides: "
                        f"rule {by} already matches all of its requests",
                        **vs.where(f"spec.http[{index}].match[{m_index}]"),
                    )
        earlier.extend((index, match) for match in matches)
        if not matches or any(_matches_everything(m) for m in matches):
            catch_all = index


def _rule_name(rule: HTTPRoute, index: int) -> str:
    return f"{index} ({rule.name})" if rule.name else str(index)


def _covering(match: HTTPMatchRequest, earlier: list[tuple[int, HTTPMatchRequest]]) -> int | None:
    for index, candidate in earlier:
        if _match_covers(candidate, match):
            return index
    return None


def _matches_everything(match: HTTPMatchRequest) -> bool:
    fields = _conditions(match)
    if not fields:
        return True
    uri = match.uri
    if set(fields) == {"uri"} and uri is not None:
        return uri.prefix == "/" or uri.regex in (".*", "/.*")
    return False


def _conditions(match: HTTPMatchRequest) -> dict[str, Any]:
    """The conditions a match sets; its name and stat prefix do not change what it matches."""
    return {
        name: getattr(match, name)
        for name in match.model_fields_set
        if name not in ("name", "stat_prefix") and getattr(match, name) is not None
    }


def _match_covers(general: HTTPMatchRequest, specific: HTTPMatchRequest) -> bool:
    """Whether every request ``specific`` matches is also matched by ``general``."""
    if _matches_everything(general):
        return True
    narrow = _conditions(specific)
    for name, condition in _conditions(general).items():
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
