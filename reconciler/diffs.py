"""What a change of the routing manifests means for traffic, host by host, in words.

A routing pull request is reviewed as a YAML diff, which mixes what reaches Envoy (a weight, a
match, a timeout) with what does not (key order, comments, a short host written as its FQDN).
This compares two validated snapshots instead of two texts: resources are paired by kind,
namespace and name, rules by name and then by match, hosts are fully qualified and durations
compared by value, so that only differences in traffic remain. Each becomes a :class:`Change`: a
sentence for people, the values before and after for scripts. Pure: two snapshots in, a
:class:`RoutingDiff` out, in a fixed order (hosts sorted, then kinds, resources, rules).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict

from reconciler.model.common import duration_ns
from reconciler.model.hosts import CLUSTER_DOMAIN, fqdn, gateway_reference, split_gateway_host
from reconciler.model.resources import Resource
from reconciler.model.snapshot import Snapshot
from reconciler.model.virtualservice import (
    Destination,
    HTTPRoute,
    HTTPRouteDestination,
    RouteDestination,
    TCPRoute,
    TLSRoute,
    VirtualServiceSpec,
)

__all__ = ["Change", "HostChanges", "RoutingDiff", "diff_snapshots"]


class Change(BaseModel):
    """One difference for traffic. A pydantic model so that writers dump it as JSON as is.

    ``kind`` is a stable slug (``weights``, ``match-added``, ``subset-removed``...),
    ``resource`` is ``Kind/namespace/name``, ``before`` and ``after`` are the compared values
    as JSON data (``None`` where there was, or is, nothing).
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    resource: str
    summary: str
    before: Any = None
    after: Any = None


class HostChanges(BaseModel):
    """The changes for one fully qualified host, grouped by resource in a stable order."""

    model_config = ConfigDict(frozen=True)

    host: str
    changes: list[Change]


class RoutingDiff(BaseModel):
    """Every host whose traffic changes, sorted by host."""

    model_config = ConfigDict(frozen=True)

    hosts: list[HostChanges] = []


def diff_snapshots(base: Snapshot, head: Snapshot) -> RoutingDiff:
    """What changes for traffic from ``base`` to ``head``."""
    by_host: dict[str, list[Change]] = defaultdict(list)
    for family in _FAMILIES:
        for host, change in _compare(family, base, head):
            by_host[host].append(change)
    return RoutingDiff(hosts=[HostChanges(host=h, changes=by_host[h]) for h in sorted(by_host)])


# --------------------------------------------------------------------------- resources

Identity = tuple[str, str]
Compare = Callable[[Resource[Any], Resource[Any], str], Iterator[Change]]


@dataclass(frozen=True)
class _Family:
    """One kind: where the snapshot keeps it, which hosts a resource is about, how it reads in
    one line (``outline``), how two versions of it compare for one host.

    ``whole``: the resource is about each of its hosts as a whole (a VirtualService), so that
    one that starts or stops naming a host is added to or removed from it; otherwise (a
    Gateway) ``compare`` also gets versions that are not about the host, and tells what part of
    it (a server) started or stopped being.
    """

    kind: str
    resources: Callable[[Snapshot], Iterable[Resource[Any]]]
    hosts: Callable[[Resource[Any]], set[str]]
    outline: Callable[[Resource[Any], str], str]
    compare: Compare
    whole: bool = True


def _compare(family: _Family, base: Snapshot, head: Snapshot) -> Iterator[tuple[str, Change]]:
    """Pairs of one kind by identity, per host either side says the resource is about.

    A resource that exists on one side only because it does not validate on the other is
    reported as such, not as added or removed.
    """
    old, new = _by_identity(family.resources(base)), _by_identity(family.resources(head))
    hosts: dict[str, set[Identity]] = defaultdict(set)
    for resources in (old, new):
        for identity, resource in resources.items():
            for host in family.hosts(resource):
                hosts[host].add(identity)
    broken = [
        {(b.namespace, b.name) for b in s.broken if b.kind == family.kind} for s in (base, head)
    ]
    for host in sorted(hosts):
        for identity in sorted(hosts[host]):
            before, after = old.get(identity), new.get(identity)
            invalid = "base" if before is None and identity in broken[0] else None
            invalid = "head" if after is None and identity in broken[1] else invalid
            if invalid:
                ref = _ref(before or after)
                summary = f"does not validate at {invalid}: not compared (meshrc check says why)"
                yield host, Change(kind="invalid", resource=ref, summary=summary)
                continue
            elsewhere = before is not None and after is not None
            if family.whole:
                before = before if before and host in family.hosts(before) else None
                after = after if after and host in family.hosts(after) else None
            if before is None or after is None:
                shown = after or before
                assert shown is not None
                outline = family.outline(shown, host)
                yield host, _lifecycle(family.kind.lower(), before, after, elsewhere, outline)
            else:
                yield from ((host, change) for change in family.compare(before, after, host))


def _by_identity(resources: Iterable[Resource[Any]]) -> dict[Identity, Resource[Any]]:
    found: dict[Identity, Resource[Any]] = {}
    for resource in resources:
        found.setdefault((resource.namespace, resource.name), resource)
    return found


def _ref(resource: Resource[Any] | None) -> str:
    assert resource is not None
    return f"{resource.kind}/{resource.namespace}/{resource.name}"


def _lifecycle(
    slug: str,
    before: Resource[Any] | None,
    after: Resource[Any] | None,
    elsewhere: bool,
    outline: str,
) -> Change:
    """A resource that starts or stops being about a host: added or removed, or (``elsewhere``:
    it exists on the other side for other hosts) newly or no longer applying to it."""
    if before is None:
        verb = "now applies to this host" if elsewhere else "added"
        return Change(
            kind=f"{slug}-added",
            resource=_ref(after),
            summary=f"{verb}: {outline}",
            after=_dump(after.spec if after else None),
        )
    verb = "no longer applies to this host" if elsewhere else "removed"
    return Change(
        kind=f"{slug}-removed",
        resource=_ref(before),
        summary=f"{verb}: {outline}",
        before=_dump(before.spec),
    )


# --------------------------------------------------------------------------- values


def _dump(value: Any) -> Any:
    """JSON data of a model (by YAML names, unset fields left out); other values as they are."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value


def _duration(text: str) -> int | None:
    try:
        return duration_ns(text)
    except ValueError:
        return None


def _same(a: Any, b: Any) -> bool:
    """Equal for traffic: the same data, durations compared by value ("2s" is "2000ms")."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        return _duration(a) is not None and _duration(a) == _duration(b)
    return bool(a == b)


MAX_SHOWN = 120
"""Characters of one value in a sentence; ``before``/``after`` keep it whole."""


def _show(value: Any) -> str:
    """A value as a reader writes it: ``10``, ``true``, ``[a, b]``, ``{k: v}``."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "\u2026"


def _percent(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def _words(key: str, sep: str = " ") -> str:
    """``connectionPool`` as ``connection pool`` (or, with ``sep="-"``, ``connection-pool``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", sep, key).lower()


def _flatten(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Leaves of nested mappings by dotted path; lists stay whole, and so does an empty mapping
    below the top (``x-debug: {}`` matches a header that is present)."""
    if isinstance(value, dict) and (value or not path):
        return [
            leaf
            for key, item in value.items()
            for leaf in _flatten(item, f"{path}.{key}" if path else str(key))
        ]
    return [(path, value)]


def _fields_text(value: Any) -> str:
    """``uri /v2, redirectCode 302``: every leaf of a structure."""
    return ", ".join(" ".join(p for p in (path, _show(v)) if p) for path, v in _flatten(value))


def _field_changes(before: Any, after: Any) -> str:
    """``tcp.maxConnections 100 -> 10; tls.sni a added``: the leaves that differ."""
    old, new = dict(_flatten(before)), dict(_flatten(after))
    parts = []
    for path in _keys(old, new):
        if path not in new:
            text = f"{_show(old[path])} removed"
        elif path not in old:
            text = f"{_show(new[path])} added"
        elif not _same(old[path], new[path]):
            text = f"{_show(old[path])} -> {_show(new[path])}"
        else:
            continue
        parts.append(f"{path} {text}" if path else text)
    return "; ".join(parts)


def _structure_text(value: Any) -> str:
    return f"({_fields_text(value)})" if isinstance(value, dict) else _show(value)


def _change(
    kind: str,
    ref: str,
    label: str,
    before: Any,
    after: Any,
    render: Callable[[Any], str] | None = None,
) -> Iterator[Change]:
    """A value added, removed or changed, unless it is the same for traffic.

    ``render`` says a value in one phrase (``timeout 2s -> 1s``; a detail in brackets both
    sides share is said once: ``retries 3 -> 5 (perTryTimeout 2s)``). Without it the value is
    a structure, said leaf by leaf: ``redirect (uri /v2) added``, ``connection pool:
    tcp.maxConnections 100 -> 10``.
    """
    if _same(before, after):
        return
    say = render or _structure_text
    if before is None:
        summary = f"{label} {say(after)} added"
    elif after is None:
        summary = f"{label} {say(before)} removed"
    elif render is None:
        summary = f"{label}: {_field_changes(before, after)}"
    else:
        old, new = render(before), render(after)
        old_main, _, old_detail = old.partition(" (")
        new_main, _, new_detail = new.partition(" (")
        if old_detail and old_detail == new_detail:
            summary = f"{label} {old_main} -> {new_main} ({new_detail}"
        else:
            summary = f"{label} {old} -> {new}"
    yield Change(kind=kind, resource=ref, summary=summary, before=before, after=after)


def _top_level(
    ref: str, prefix: str, before: dict[str, Any], after: dict[str, Any]
) -> Iterator[Change]:
    """One structural change per top-level field that differs, its kind named after it."""
    for key in sorted(before.keys() | after.keys()):
        label = f"{prefix}{_words(key)}"
        yield from _change(_words(key, "-"), ref, label, before.get(key), after.get(key))


def _without(data: Any, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in (data or {}).items() if k not in keys}


def _keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The keys of both, in the order they come: ``before``'s, then the new ones."""
    return [*before, *(k for k in after if k not in before)]


def _keyed(
    ref: str,
    kind: str,
    before: dict[str, Any],
    after: dict[str, Any],
    said: Callable[[str, Any, str], str],
    changed: Callable[[str, Any, Any], Iterator[Change]],
) -> Iterator[Change]:
    """Named parts (subsets, servers) removed, added (``kind-removed``, ``kind-added``, told by
    ``said(name, value, "removed" or "added")``) or ``changed``."""
    for key in _keys(before, after):
        if key not in after:
            summary = said(key, before[key], "removed")
            yield Change(kind=f"{kind}-removed", resource=ref, summary=summary, before=before[key])
        elif key not in before:
            summary = said(key, after[key], "added")
            yield Change(kind=f"{kind}-added", resource=ref, summary=summary, after=after[key])
        else:
            yield from changed(key, before[key], after[key])


def _labels_text(labels: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (labels or {}).items()) or "no labels"


# --------------------------------------------------------------------------- VirtualService

Rule = HTTPRoute | TLSRoute | TCPRoute
PROTOCOLS = ("http", "tls", "tcp")


@dataclass(frozen=True)
class _Place:
    """Where destinations are named from: the host being reported, the resource's namespace."""

    host: str
    namespace: str

    def destination(self, destination: Destination) -> str:
        """``v1`` for a subset of this host, else ``ratings.shop/v1``; ``:port`` when set."""
        host = fqdn(destination.host, self.namespace)
        label = host.removesuffix(f".{CLUSTER_DOMAIN}")
        if destination.subset:
            label = destination.subset if host == self.host else f"{label}/{destination.subset}"
        if destination.port is not None and destination.port.number is not None:
            label += f":{destination.port.number}"
        return label


def _vs_hosts(vs: Resource[Any]) -> set[str]:
    return {fqdn(h, vs.namespace) for h in vs.spec.hosts or ()}


def _rules(spec: VirtualServiceSpec, protocol: str) -> Sequence[Rule]:
    rules: Sequence[Rule] = getattr(spec, protocol) or ()
    return rules


def _virtual_service(before: Resource[Any], after: Resource[Any], host: str) -> Iterator[Change]:
    ref, place = _ref(after), _Place(host, after.namespace)
    old_gateways, new_gateways = _bindings(before), _bindings(after)
    for gateway in sorted(new_gateways - old_gateways):
        yield Change(
            kind="gateway-bound", resource=ref, summary=f"bound to {gateway}", after=gateway
        )
    for gateway in sorted(old_gateways - new_gateways):
        yield Change(
            kind="gateway-unbound", resource=ref, summary=f"unbound from {gateway}", before=gateway
        )
    yield from _top_level(
        ref,
        "",
        {"exportTo": _dump(before.spec.export_to)},
        {"exportTo": _dump(after.spec.export_to)},
    )
    for protocol in PROTOCOLS:
        yield from _rule_list(
            ref, protocol, _rules(before.spec, protocol), _rules(after.spec, protocol), place
        )


def _bindings(vs: Resource[Any]) -> set[str]:
    """``gateway ns/name`` per gateway, ``the mesh (sidecars)`` for ``mesh`` or none."""
    found = set()
    for reference in vs.spec.gateways or ["mesh"]:
        if reference == "mesh":
            found.add("the mesh (sidecars)")
        else:
            namespace, name, _ = gateway_reference(reference, vs.namespace)
            found.add(f"gateway {namespace}/{name}")
    return found


def _vs_outline(vs: Resource[Any], host: str) -> str:
    place = _Place(host, vs.namespace)
    rules = [
        f"{_protocol(protocol)}{_match_text(rule)} -> {_action(rule, place)}"
        for protocol in PROTOCOLS
        for rule in _rules(vs.spec, protocol)
    ]
    bindings = ", ".join(sorted(_bindings(vs)))
    return f"on {bindings}: {'; '.join(rules) or 'no rules'}"


def _rule_list(
    ref: str, protocol: str, old: Sequence[Rule], new: Sequence[Rule], place: _Place
) -> Iterator[Change]:
    """Rules removed and added, rules moved past each other, then each kept rule's changes."""
    pairs = _pair_rules(old, new)
    paired_old, paired_new = {i for i, _ in pairs}, {j for _, j in pairs}
    for i, rule in enumerate(old):
        if i not in paired_old:
            text = _rule_text(protocol, rule, i, place)
            yield Change(
                kind="match-removed",
                resource=ref,
                summary=f"match removed: {text}",
                before=_dump(rule),
            )
    for j, rule in enumerate(new):
        if j not in paired_new:
            text = _rule_text(protocol, rule, j, place)
            yield Change(
                kind="match-added", resource=ref, summary=f"new match {text}", after=_dump(rule)
            )
    yield from _order(ref, protocol, pairs, new, place)
    plain = len(old) == len(new) == 1 and not old[0].match and not new[0].match
    for i, j in sorted(pairs, key=lambda pair: pair[1]):
        prefix = "" if plain else f"{_rule_ref(protocol, new[j], j)}: "
        yield from _rule(ref, prefix, old[i], new[j], place)


def _rule_text(protocol: str, rule: Rule, index: int, place: _Place) -> str:
    """``headers end-user=jason -> v2 (rule 0)``: a rule that comes or goes, in one line."""
    return f"{_match_text(rule)} -> {_action(rule, place)} ({_rule_name(protocol, rule, index)})"


def _rule_name(protocol: str, rule: Rule, index: int) -> str:
    name = getattr(rule, "name", None)
    return f"{_protocol(protocol)}rule {name or index}"


def _protocol(protocol: str) -> str:
    """How rules of a protocol are introduced: http ones are the usual, others say theirs."""
    return "" if protocol == "http" else f"{protocol} "


def _rule_ref(protocol: str, rule: Rule, index: int) -> str:
    """A rule by its name when it has one, else by its position and match."""
    name = _rule_name(protocol, rule, index)
    return name if getattr(rule, "name", None) else f"{name} ({_match_text(rule)})"


def _match_key(rule: Rule) -> tuple[str, ...]:
    """The rule's matches as canonical text, in any order: names and stat prefixes left out."""
    return tuple(
        sorted(
            json.dumps(_without(_dump(m), "name", "statPrefix"), sort_keys=True)
            for m in rule.match or ()
        )
    )


def _pair_rules(old: Sequence[Rule], new: Sequence[Rule]) -> list[tuple[int, int]]:
    """Which rule of ``new`` each rule of ``old`` became: the same name, else the same matches,
    else matches in common; the first candidate in order wins."""
    pairs: list[tuple[int, int]] = []
    keys: list[Callable[[Rule], Any]] = [
        lambda r: getattr(r, "name", None),
        lambda r: _match_key(r),
        lambda r: set(_match_key(r)),
    ]
    for key in keys:
        used_old, used_new = {i for i, _ in pairs}, {j for _, j in pairs}
        for i, rule in enumerate(old):
            wanted = key(rule)
            if i in used_old or wanted is None:
                continue
            for j, other in enumerate(new):
                found = key(other)
                fits = bool(wanted & found) if isinstance(wanted, set) else wanted == found
                if j not in used_new and found is not None and fits:
                    pairs.append((i, j))
                    used_new.add(j)
                    break
    return pairs


def _order(
    ref: str, protocol: str, pairs: list[tuple[int, int]], new: Sequence[Rule], place: _Place
) -> Iterator[Change]:
    """Kept rules that now come before others they used to follow: first match wins, so the
    requests both match go elsewhere. The longest run in the old order stays put; the rest moved."""
    by_old = sorted(pairs)
    staying = _longest_increasing([j for _, j in by_old])
    for i, j in sorted(pairs, key=lambda pair: pair[1]):
        if j in staying:
            continue
        passed = [j2 for i2, j2 in by_old if i2 > i and j2 < j]
        overtaken = [j2 for i2, j2 in by_old if i2 < i and j2 > j]
        moved = _rule_ref(protocol, new[j], j)
        sentences = []
        if overtaken:
            others = ", ".join(_rule_ref(protocol, new[k], k) for k in overtaken)
            sentences.append(
                f"{moved} moved before {others}: first match wins, so requests that match both "
                f"now go to {_action(new[j], place)}"
            )
        if passed:
            others = ", ".join(_rule_ref(protocol, new[k], k) for k in passed)
            sentences.append(
                f"{moved} moved after {others}: first match wins, so requests that match both "
                f"now take the earlier rule"
            )
        yield Change(
            kind="rule-order",
            resource=ref,
            summary="; ".join(sentences),
            before=i,
            after=j,
        )


def _longest_increasing(values: list[int]) -> set[int]:
    """The values of the longest increasing subsequence (the earliest one among equals)."""
    lengths = [1] * len(values)
    previous = [-1] * len(values)
    for k, value in enumerate(values):
        for m in range(k):
            if values[m] < value and lengths[m] + 1 > lengths[k]:
                lengths[k], previous[k] = lengths[m] + 1, m
    if not values:
        return set()
    k = lengths.index(max(lengths))
    kept = set()
    while k >= 0:
        kept.add(values[k])
        k = previous[k]
    return kept


def _rule(ref: str, prefix: str, old: Rule, new: Rule, place: _Place) -> Iterator[Change]:
    """What changes within one kept rule."""
    if _match_key(old) != _match_key(new):
        was, now = ([json.loads(k) for k in _match_key(r)] for r in (old, new))
        yield from _change("match-changed", ref, f"{prefix}match", was, now, _matches_text)
    before, after = _shares(old, place), _shares(new, place)
    if before != after:
        yield Change(
            kind="weights",
            resource=ref,
            summary=prefix + _shares_change(before, after, old, new, place),
            before=before,
            after=after,
        )
    if isinstance(old, HTTPRoute) and isinstance(new, HTTPRoute):
        yield from _http_rule(ref, prefix, old, new, place)


def _http_rule(
    ref: str, prefix: str, old: HTTPRoute, new: HTTPRoute, place: _Place
) -> Iterator[Change]:
    for kind, label, value, render in _HTTP_VALUES:
        yield from _change(kind, ref, prefix + label, value(old, place), value(new, place), render)
    for field, kind, label in _HTTP_STRUCTS:
        before, after = _dump(getattr(old, field)), _dump(getattr(new, field))
        yield from _change(kind, ref, prefix + label, before, after)
    old_headers, new_headers = _destination_headers(old, place), _destination_headers(new, place)
    for label in _keys(old_headers, new_headers):
        yield from _change(
            "headers",
            ref,
            f"{prefix}headers for {label}",
            old_headers.get(label),
            new_headers.get(label),
        )


def _shares(rule: Rule, place: _Place) -> dict[str, float]:
    """Percent of the rule's traffic per destination: weights relative to their sum; a single
    destination takes everything whatever its weight."""
    entries: list[HTTPRouteDestination | RouteDestination] = list(rule.route or ())
    weights = [1 if len(entries) == 1 else (e.weight or 0) for e in entries]
    total = sum(weights)
    shares: dict[str, float] = {}
    for entry, weight in zip(entries, weights, strict=True):
        label = place.destination(entry.destination)
        shares[label] = round(shares.get(label, 0) + (100 * weight / total if total else 0), 2)
    return shares


def _shares_change(
    before: dict[str, float], after: dict[str, float], old: Rule, new: Rule, place: _Place
) -> str:
    if not before:
        return f"now forwards to {_action(new, place)}"
    if not after:
        return f"no longer forwards to {_action(old, place)}"
    return ", ".join(
        f"{label} {_percent(before.get(label, 0))} -> {_percent(after.get(label, 0))}"
        for label in _keys(before, after)
        if before.get(label, 0) != after.get(label, 0)
    )


def _action(rule: Rule, place: _Place) -> str:
    """What the rule does with the requests it matches, in a few words."""
    shares = _shares(rule, place)
    if len(shares) == 1:
        return next(iter(shares))
    if shares:
        return ", ".join(f"{label} {_percent(share)}" for label, share in shares.items())
    if isinstance(rule, HTTPRoute):
        if rule.redirect is not None:
            return f"redirect ({_fields_text(_dump(rule.redirect))})"
        if rule.direct_response is not None:
            return f"direct response {rule.direct_response.status}"
        if rule.delegate is not None:
            return f"delegate to {rule.delegate.namespace or place.namespace}/{rule.delegate.name}"
    return "nothing"


def _destination_headers(rule: HTTPRoute, place: _Place) -> dict[str, Any]:
    return {
        place.destination(e.destination): _dump(e.headers)
        for e in rule.route or ()
        if e.headers is not None
    }


def _mirrors(rule: HTTPRoute, place: _Place) -> list[list[Any]] | None:
    """``[destination, percent]`` per mirror target; no percentage means all the traffic."""
    targets = []
    if rule.mirror is not None:
        legacy = (
            rule.mirror_percent if rule.mirror_percent is not None else rule.mirror_percent_camel
        )
        share = rule.mirror_percentage.value if rule.mirror_percentage else legacy
        targets.append([place.destination(rule.mirror), 100 if share is None else share])
    for mirror in rule.mirrors or ():
        share = mirror.percentage.value if mirror.percentage else None
        targets.append([place.destination(mirror.destination), 100 if share is None else share])
    return targets or None


def _mirror_text(targets: list[list[Any]]) -> str:
    return ", ".join(f"{label} {_percent(share)}" for label, share in targets)


def _share_text(data: dict[str, Any]) -> str:
    """`` for 10%`` from ``percentage`` (or the integer ``percent``); nothing when unset."""
    share = data.get("percentage", {}).get("value", data.get("percent"))
    return "" if share is None else f" for {_percent(share)}"


def _delay_text(delay: dict[str, Any]) -> str:
    fixed = delay.get("fixedDelay")
    text = fixed if fixed is not None else f"exponential {delay.get('exponentialDelay')}"
    return f"{text}{_share_text(delay)}"


def _abort_text(abort: dict[str, Any]) -> str:
    if "httpStatus" in abort:
        text = str(abort["httpStatus"])
    elif "grpcStatus" in abort:
        text = f"grpc {abort['grpcStatus']}"
    else:
        text = f"http2 {abort.get('http2Error')}"
    return f"{text}{_share_text(abort)}"


def _retries_text(retries: dict[str, Any]) -> str:
    details = _fields_text(_without(retries, "attempts"))
    attempts = str(retries.get("attempts", "default"))
    return f"{attempts} ({details})" if details else attempts


def _fault(part: str) -> Callable[[HTTPRoute, _Place], Any]:
    return lambda rule, _place: _dump(getattr(rule.fault, part)) if rule.fault else None


_HTTP_VALUES: tuple[
    tuple[str, str, Callable[[HTTPRoute, _Place], Any], Callable[[Any], str]], ...
] = (
    ("timeout", "timeout", lambda rule, _place: rule.timeout, str),
    ("retries", "retries", lambda rule, _place: _dump(rule.retries), _retries_text),
    ("fault-delay", "fault delay", _fault("delay"), _delay_text),
    ("fault-abort", "fault abort", _fault("abort"), _abort_text),
    ("mirror", "mirror to", _mirrors, _mirror_text),
)
"""HTTP rule values said in one phrase: (kind, label, value of a rule, how it reads)."""

_HTTP_STRUCTS = (
    ("redirect", "redirect", "redirect"),
    ("direct_response", "direct-response", "direct response"),
    ("delegate", "delegate", "delegate"),
    ("rewrite", "rewrite", "rewrite"),
    ("cors_policy", "cors", "CORS policy"),
    ("headers", "headers", "headers"),
)
"""HTTP rule structures compared leaf by leaf: (field, kind, label)."""


# --------------------------------------------------------------------------- matches

_STRING_FIELDS = ("scheme", "method", "authority")
_MAP_FIELDS = {"headers": "headers", "queryParams": "query", "withoutHeaders": "without headers"}


def _match_text(rule: Rule) -> str:
    return _matches_text([_dump(m) for m in rule.match or ()])


def _matches_text(matches: list[dict[str, Any]]) -> str:
    """``uri prefix /api and headers end-user=jason``; alternatives joined by ``or``."""
    texts = [_one_match(_without(m, "name", "statPrefix")) for m in matches]
    return " or ".join(texts) or "any request"


def _one_match(match: dict[str, Any]) -> str:
    parts = []
    for key, value in match.items():
        if key == "uri":
            parts.append(f"uri {_uri(value)}")
        elif key == "ignoreUriCase":
            parts.append("uri in any case" if value else "uri case-sensitive")
        elif key in _STRING_FIELDS:
            parts.append(f"{key} {_string_match(value)}")
        elif key in _MAP_FIELDS:
            pairs = ", ".join(f"{k}{_named_match(v)}" for k, v in value.items())
            parts.append(f"{_MAP_FIELDS[key]} {pairs}")
        elif key == "sourceLabels":
            parts.append(f"source labels {_labels_text(value)}")
        else:
            parts.append(f"{_words(key)} {_show(value)}")
    return " and ".join(parts) or "any request"


def _uri(match: dict[str, str]) -> str:
    if "prefix" in match:
        return f"prefix {match['prefix']}"
    return _string_match(match)


def _string_match(match: dict[str, str]) -> str:
    """``GET`` (exact), ``GE*`` (prefix), ``~G.T`` (regex), ``present`` (empty)."""
    if "exact" in match:
        return match["exact"]
    if "prefix" in match:
        return f"{match['prefix']}*"
    if "regex" in match:
        return f"~{match['regex']}"
    return "present"


def _named_match(match: dict[str, str]) -> str:
    """``=jason``, ``=jas*``, ``~^ja``, `` present``: what follows the header name."""
    text = _string_match(match)
    if "regex" in match:
        return text
    return " present" if text == "present" else f"={text}"


# --------------------------------------------------------------------------- DestinationRule


def _rule_host(dr: Resource[Any]) -> set[str]:
    return {fqdn(dr.spec.host, dr.namespace)}


def _destination_rule(before: Resource[Any], after: Resource[Any], _host: str) -> Iterator[Change]:
    ref = _ref(after)
    old_spec, new_spec = _dump(before.spec), _dump(after.spec)
    skip = ("host", "subsets", "trafficPolicy")
    yield from _top_level(ref, "", _without(old_spec, *skip), _without(new_spec, *skip))
    yield from _policy(ref, "", old_spec.get("trafficPolicy"), new_spec.get("trafficPolicy"))
    old_subsets = {s["name"]: s for s in old_spec.get("subsets", ())}
    new_subsets = {s["name"]: s for s in new_spec.get("subsets", ())}
    yield from _keyed(
        ref, "subset", old_subsets, new_subsets, _subset_said, partial(_subset_changes, ref)
    )


def _subset_said(name: str, subset: dict[str, Any], verb: str) -> str:
    """``subset v3 added (version=v3)``, ``subset v1 removed``."""
    return (
        f"subset {name} added ({_subset_text(subset)})"
        if verb == "added"
        else f"subset {name} {verb}"
    )


def _subset_changes(
    ref: str, name: str, was: dict[str, Any], now: dict[str, Any]
) -> Iterator[Change]:
    labels = was.get("labels"), now.get("labels")
    yield from _change("subset-labels", ref, f"subset {name} labels", *labels, _labels_text)
    yield from _policy(ref, f"subset {name} ", was.get("trafficPolicy"), now.get("trafficPolicy"))


def _policy(ref: str, prefix: str, before: Any, after: Any) -> Iterator[Change]:
    """A traffic policy, one change per part (load balancer, connection pool, tls...)."""
    yield from _top_level(ref, prefix, _by_port(before), _by_port(after))


def _by_port(policy: Any) -> dict[str, Any]:
    """Port-level settings keyed by port, so that their order says nothing."""
    data = dict(policy or {})
    if "portLevelSettings" in data:
        data["portLevelSettings"] = {
            f"port {s.get('port', {}).get('number')}": _without(s, "port")
            for s in data["portLevelSettings"]
        }
    return data


def _subset_text(subset: dict[str, Any]) -> str:
    text = _labels_text(subset.get("labels"))
    policy = subset.get("trafficPolicy")
    return f"{text}; traffic policy {_fields_text(_by_port(policy))}" if policy else text


def _dr_outline(dr: Resource[Any], _host: str) -> str:
    spec = _dump(dr.spec)
    subsets = ", ".join(f"{s['name']} ({_subset_text(s)})" for s in spec.get("subsets", ()))
    parts = [f"subsets {subsets}" if subsets else "no subsets"]
    if "trafficPolicy" in spec:
        parts.append(f"traffic policy {_fields_text(_by_port(spec['trafficPolicy']))}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- Gateway


def _gateway_hosts(gateway: Resource[Any]) -> set[str]:
    return {
        split_gateway_host(h, gateway.namespace)[1]
        for server in gateway.spec.servers or ()
        for h in server.hosts
    }


def _listeners(gateway: Resource[Any], host: str) -> dict[str, Any]:
    """The servers that admit ``host``, by ``port 443/HTTPS`` (and namespace when limited)."""
    found: dict[str, Any] = {}
    for server in gateway.spec.servers or ():
        data = _without(_dump(server), "hosts", "name", "port")
        if server.port.target_port is not None:
            data["targetPort"] = server.port.target_port
        for entry in server.hosts:
            namespace, name = split_gateway_host(entry, gateway.namespace)
            if name == host:
                scope = "" if namespace == "*" else f" for namespace {namespace}"
                found.setdefault(f"port {server.port.number}/{server.port.protocol}{scope}", data)
    return found


def _listeners_text(listeners: dict[str, Any]) -> str:
    return "; ".join(
        f"{label} ({_fields_text(data)})" if data else label for label, data in listeners.items()
    )


def _gateway_outline(gateway: Resource[Any], host: str) -> str:
    return f"admits it on {_listeners_text(_listeners(gateway, host))}"


def _gateway(old: Resource[Any], new: Resource[Any], host: str) -> Iterator[Change]:
    ref = _ref(new)
    yield from _change(
        "gateway-selector", ref, "selector", _dump(old.spec.selector), _dump(new.spec.selector)
    )
    yield from _keyed(
        ref,
        "gateway-server",
        _listeners(old, host),
        _listeners(new, host),
        _server_said,
        lambda label, was, now: _change("gateway-server-changed", ref, label, was, now),
    )


def _server_said(label: str, server: dict[str, Any], verb: str) -> str:
    """``now admits it on port 443/HTTPS (tls.mode SIMPLE)``, ``no longer admits it on ...``."""
    if verb == "added":
        return f"now admits it on {_listeners_text({label: server})}"
    return f"no longer admits it on {label}"


# --------------------------------------------------------------------------- ServiceEntry


def _entry_hosts(entry: Resource[Any]) -> set[str]:
    return set(entry.spec.hosts)


def _entry_data(entry: Resource[Any]) -> dict[str, Any]:
    """The entry without its hosts, ports keyed by number."""
    data = _without(_dump(entry.spec), "hosts")
    if "ports" in data:
        data["ports"] = {str(p["number"]): _without(p, "number") for p in data["ports"]}
    return data


def _entry_outline(entry: Resource[Any], _host: str) -> str:
    return _fields_text(_entry_data(entry))


def _service_entry(before: Resource[Any], after: Resource[Any], _host: str) -> Iterator[Change]:
    yield from _top_level(_ref(after), "", _entry_data(before), _entry_data(after))


_FAMILIES = (
    _Family(
        "VirtualService", lambda s: s.virtual_services, _vs_hosts, _vs_outline, _virtual_service
    ),
    _Family(
        "DestinationRule", lambda s: s.destination_rules, _rule_host, _dr_outline, _destination_rule
    ),
    _Family(
        "Gateway", lambda s: s.gateways.values(), _gateway_hosts, _gateway_outline, _gateway, False
    ),
    _Family(
        "ServiceEntry", lambda s: s.service_entries, _entry_hosts, _entry_outline, _service_entry
    ),
)
"""Compared in this order, which is also the order of a host's changes."""
