"""RouteTest documents, and judging what was observed against what they expect; pure.

A RouteTest (``meshrc.io/v1alpha1``) lives in the repository next to the routing it tests::

    apiVersion: meshrc.io/v1alpha1
    kind: RouteTest
    metadata: {name: jason-sees-v2, namespace: bookinfo}   # the client's namespace
    spec:
      proxy: mesh                        # or <namespace>/<gateway>
      request: {authority: reviews, port: 9080, path: /, headers: {end-user: jason}}
      count: 200
      upstreams: {ratings/v1: {failNext: 2}}     # make stand-ins fail, fail always, or be slow
      expect:
        destinations: {reviews/v2: 100}  # percent per host or host/subset
        tolerance: 5                     # percentage points
        status: 200                      # or {500: 50, 200: 50}
        latency: {min: 1s, of: every}    # bounds on every response, or on p50/p90/p99
        attempts: {ratings/v1: 3}        # requests each stand-in received
        upstream: {path: /api/, authority: reviews-internal, headers: {x-route: v2}}
        headers: {location: https://example.com/}   # on every response

Hosts are written as in a VirtualService: short names are in the test's namespace.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from reconciler.model.common import Duration, duration_ns
from reconciler.model.hosts import fqdn
from reconciler.source.loading import Document

API_VERSION = "meshrc.io/v1alpha1"
KIND = "RouteTest"
Percent = Annotated[float, Field(ge=0, le=100)]


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Request(_Spec):
    authority: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    path: str = "/"
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)


class UpstreamBehaviour(_Spec):
    fail_next: Annotated[int, Field(ge=0)] = 0
    status: Annotated[int, Field(ge=200, le=599)] = 503
    always: Annotated[int, Field(ge=200, le=599)] | None = None
    delay: Duration | None = None


class Latency(_Spec):
    min: Duration | None = None
    max: Duration | None = None
    of: Literal["every", "p50", "p90", "p99"] = "every"


class UpstreamRequest(_Spec):
    path: str | None = None
    authority: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class Expect(_Spec):
    destinations: dict[str, Percent] | None = None
    tolerance: Annotated[float, Field(ge=0, le=100)] = 5
    status: Annotated[int, Field(ge=100, le=599)] | dict[int, Percent] | None = None
    latency: Latency | None = None
    attempts: dict[str, Annotated[int, Field(ge=0)]] | None = None
    upstream: UpstreamRequest | None = None
    headers: dict[str, str] | None = None


class RouteTestSpec(_Spec):
    proxy: str = "mesh"
    request: Request
    count: Annotated[int, Field(ge=1, le=100_000)] = 100
    concurrency: Annotated[int, Field(ge=1, le=256)] = 1
    upstreams: dict[str, UpstreamBehaviour] = Field(default_factory=dict)
    expect: Expect


@dataclass(frozen=True)
class RouteTest:
    name: str
    namespace: str
    spec: RouteTestSpec
    file: str
    line: int
    raw_expect: dict[str, Any]

    def host_key(self, written: str) -> str:
        """``reviews/v2`` -> ``reviews.<ns>.svc.cluster.local/v2`` (as stand-ins are named)."""
        host, _, subset = written.partition("/")
        expanded = fqdn(host, self.namespace)
        return f"{expanded}/{subset}" if subset else expanded


@dataclass(frozen=True)
class InvalidTest:
    name: str
    file: str
    line: int
    message: str


def route_tests(
    documents: list[Document], default_namespace: str = "default"
) -> tuple[list[RouteTest], list[InvalidTest]]:
    """The RouteTests among ``documents``, and those that do not validate (file:line, why)."""
    tests: list[RouteTest] = []
    invalid: list[InvalidTest] = []
    for doc in documents:
        body = doc.body
        if not (
            isinstance(body, dict)
            and body.get("kind") == KIND
            and body.get("apiVersion") == API_VERSION
        ):
            continue
        found = body.get("metadata")
        metadata: dict[str, Any] = found if isinstance(found, dict) else {}
        name = str(metadata.get("name") or f"{doc.file}:{doc.line}")
        namespace = (
            metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else None
        )
        try:
            spec = RouteTestSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            invalid.append(InvalidTest(name, doc.file, doc.line, f"spec.{where}: {first['msg']}"))
            continue
        raw = body["spec"].get("expect", {})
        tests.append(RouteTest(name, namespace or default_namespace, spec, doc.file, doc.line, raw))
    return sorted(tests, key=lambda t: (t.file, t.line)), invalid


@dataclass
class Observation:
    """What the requests of one test met."""

    count: int = 0
    destinations: Counter[str] = field(default_factory=Counter)
    """Answers per stand-in (``host/subset``); Envoy's own answers are not counted here."""
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    """Requests each stand-in received (retries included), ``host/subset``."""
    upstream_requests: list[dict[str, Any]] = field(default_factory=list)
    response_headers: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "count": self.count,
            "destinations": {
                k: _percent(v, self.count) for k, v in sorted(self.destinations.items())
            },
            "status": {str(k): _percent(v, self.count) for k, v in sorted(self.statuses.items())},
            "latency": {
                "min": _ms(ordered[0]) if ordered else None,
                "p50": _ms(quantile(ordered, 50)) if ordered else None,
                "max": _ms(ordered[-1]) if ordered else None,
            },
            "attempts": {k: v for k, v in sorted(self.attempts.items()) if v},
        }


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def _ms(value: float) -> str:
    return f"{value * 1000:.0f}ms"


def quantile(ordered: list[float], percent: int) -> float:
    """The nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def judge(test: RouteTest, seen: Observation) -> list[str]:
    """Every expectation ``seen`` does not meet, in words; empty when the test passes."""
    expect = test.spec.expect
    problems: list[str] = []
    tolerance = expect.tolerance
    for written, wanted in sorted((expect.destinations or {}).items()):
        got = _share(test.host_key(written), seen.destinations, seen.count)
        if abs(got - wanted) > tolerance:
            problems.append(f"{written}: expected {wanted:g}% ± {tolerance:g}, got {got:g}%")
    statuses = (
        expect.status
        if isinstance(expect.status, dict)
        else ({expect.status: 100.0} if expect.status is not None else {})
    )
    for code, wanted in sorted(statuses.items()):
        got = _percent(seen.statuses.get(code, 0), seen.count)
        if abs(got - wanted) > tolerance:
            others = ", ".join(
                f"{c}: {_percent(n, seen.count):g}%" for c, n in sorted(seen.statuses.items())
            )
            problems.append(
                f"status {code}: expected {wanted:g}% ± {tolerance:g}, got {got:g}% ({others})"
            )
    if expect.latency is not None and seen.latencies:
        problems += _latency_problems(expect.latency, sorted(seen.latencies))
    for written, wanted_count in sorted((expect.attempts or {}).items()):
        key = test.host_key(written)
        got_count = sum(
            n for name, n in seen.attempts.items() if name == key or name.startswith(key + "/")
        )
        if got_count != wanted_count:
            problems.append(
                f"{written}: expected {wanted_count} attempts upstream, got {got_count}"
            )
    if expect.upstream is not None:
        problems += _upstream_problems(expect.upstream, seen)
    for name, value in sorted((expect.headers or {}).items()):
        wrong = [h.get(name.lower()) for h in seen.response_headers if h.get(name.lower()) != value]
        if wrong:
            problems.append(
                f"response header {name}: expected {value!r}, got {wrong[0]!r} "
                f"({len(wrong)} of {seen.count})"
            )
    return problems


def _share(key: str, destinations: Counter[str], count: int) -> float:
    """The percentage of answers from ``key``: a host counts all its subsets."""
    hits = sum(n for name, n in destinations.items() if name == key or name.startswith(key + "/"))
    return _percent(hits, count)


def _latency_problems(latency: Latency, ordered: list[float]) -> list[str]:
    problems = []
    if latency.of == "every":
        low, high, label = ordered[0], ordered[-1], "every response"
    else:
        value = quantile(ordered, int(latency.of[1:]))
        low, high, label = value, value, latency.of
    if latency.min is not None and low * 1e9 < duration_ns(latency.min):
        problems.append(f"latency of {label}: expected at least {latency.min}, got {_ms(low)}")
    if latency.max is not None and high * 1e9 > duration_ns(latency.max):
        problems.append(f"latency of {label}: expected at most {latency.max}, got {_ms(high)}")
    return problems


def _upstream_problems(wanted: UpstreamRequest, seen: Observation) -> list[str]:
    if not seen.upstream_requests:
        return ["no request reached an upstream"]
    problems = []
    for echo in seen.upstream_requests:
        headers = echo.get("headers", {})
        checks = [
            ("path", wanted.path, echo.get("path")),
            ("authority", wanted.authority, headers.get("host")),
        ]
        checks += [
            (f"header {k}", v, headers.get(k.lower())) for k, v in sorted(wanted.headers.items())
        ]
        for label, expected, got in checks:
            if expected is not None and got != expected:
                problems.append(f"upstream {label}: expected {expected!r}, got {got!r}")
        if problems:
            break
    return problems
