"""Routing proven with real traffic: the rendered configuration in a real Envoy, a loopback
stand-in for every service and subset, real requests (``meshrc verify``'s machinery).

Where a RouteTest can say it, the test is a RouteTest, as a user would write it; behaviour
that needs a closer look (a circuit breaker's overflow, an ejection, the delayed share)
is measured here directly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.model.snapshot import Snapshot, build_snapshot
from reconciler.render.layouts import bootstrap
from reconciler.render.options import RenderOptions
from reconciler.render.proxies import render_proxy
from reconciler.source.loading import directory_files, load_files
from reconciler.verify.client import send, send_many
from reconciler.verify.envoy import EnvoyProcess
from reconciler.verify.routetests import route_tests
from reconciler.verify.running import RouteTestResult, run_route_tests, stand_ins
from reconciler.verify.upstreams import Upstreams
from verify.traffic_mesh import MESH, route_test

pytestmark = pytest.mark.usefixtures("envoy_binary")

WEB = "web.t.svc.cluster.local"


def load(tmp_path: Path, extra: str = "") -> tuple[Snapshot, list[object]]:
    (tmp_path / "mesh.yaml").write_text(MESH + extra, encoding="utf-8")
    loaded = load_files(directory_files(tmp_path))
    snapshot, findings = build_snapshot(loaded.documents)
    assert not findings and not loaded.findings
    return snapshot, loaded.documents


def run(tmp_path: Path, *tests: str) -> dict[str, RouteTestResult]:
    snapshot, documents = load(tmp_path, "".join(tests))
    found, invalid = route_tests(documents)  # type: ignore[arg-type]
    assert not invalid
    return {r.name: r for r in run_route_tests(snapshot, found, invalid)}


def test_a_weighted_split_within_tolerance(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        route_test(
            "split",
            """  request: {authority: web, port: 8080}
  count: 2000
  concurrency: 4
  expect: {destinations: {web/v1: 75, web/v2: 25}, tolerance: 3, status: 200}
""",
        ),
    )
    split = results["split"]
    assert split.passed, split.message
    shares = split.observed["destinations"]
    assert set(shares) == {f"{WEB}/v1", f"{WEB}/v2"} and split.observed["count"] == 2000


def test_header_uri_and_query_matches_in_first_match_order(tmp_path: Path) -> None:
    cases = {
        "header": ("{authority: web, headers: {x-user: jason}}", "web/v2"),
        "header-wins-over-uri": (
            "{authority: web, path: /api/special, headers: {x-user: jason}}",
            "web/v2",
        ),
        "query": ("{authority: web.t, path: '/?beta=1'}", "web/v3"),
        "exact-before-prefix": ("{authority: web, path: /api/special}", "web/v3"),
        "prefix": ("{authority: web.t.svc.cluster.local, path: /api/other}", "web/v2"),
        "no-match-falls-to-the-split": (
            "{authority: web, path: /elsewhere, headers: {x-user: bob}}",
            "web/v1",
        ),
    }
    tests = []
    for name, (request, destination) in cases.items():
        fallthrough = name.startswith("no-match")
        share, tolerance, count = (75, 25, 40) if fallthrough else (100, 0, 10)
        spec = f"  request: {request}\n  count: {count}\n"
        spec += f"  expect: {{destinations: {{{destination}: {share}}}, tolerance: {tolerance}}}\n"
        tests.append(route_test(name, spec))
    results = run(tmp_path, *tests)
    assert {name: r.message for name, r in results.items()} == {name: "ok" for name in cases}


def gateway(name: str, authority: str, expect: str) -> str:
    """A RouteTest of the edge Gateway."""
    spec = f"  proxy: t/edge\n  request: {{authority: {authority}}}\n  count: 5\n"
    return route_test(name, spec + f"  expect: {expect}\n")


def test_a_gateway_routes_by_host(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        gateway("shop", "shop.example.com", "{destinations: {web/v1: 100}, tolerance: 0}"),
        gateway("admin", "'admin.example.com:80'", "{destinations: {web/v2: 100}, tolerance: 0}"),
        gateway("unknown", "evil.example.com", "{status: 404, tolerance: 0}"),
    )
    assert {name: r.message for name, r in results.items()} == {
        "shop": "ok",
        "admin": "ok",
        "unknown": "ok",
    }


def test_a_timeout_answers_504_after_the_timeout_not_before(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        route_test(
            "timeout",
            """  request: {authority: slow}
  count: 4
  concurrency: 4
  upstreams: {slow: {delay: 3s}}
  expect:
    status: 504
    tolerance: 0
    latency: {min: 490ms, max: 2500ms}  # Envoy's timer has millisecond precision
""",
        ),
        route_test(
            "in-time",
            """  request: {authority: slow}
  count: 4
  upstreams: {slow: {delay: 100ms}}
  expect: {status: 200, tolerance: 0, latency: {min: 100ms, max: 490ms}}
""",
        ),
    )
    assert results["timeout"].message == "ok" and results["in-time"].message == "ok"


def test_retries_hide_two_failures_and_the_upstream_counts_three_attempts(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        route_test(
            "retried",
            """  request: {authority: flaky}
  count: 1
  upstreams: {flaky: {failNext: 2, status: 500}}
  expect: {status: 200, tolerance: 0, attempts: {flaky: 3}}
""",
        ),
        route_test(
            "too-many-failures",
            """  request: {authority: flaky}
  count: 1
  upstreams: {flaky: {failNext: 3, status: 500}}
  expect: {status: 500, tolerance: 0, attempts: {flaky: 3}}
""",
        ),
    )
    assert results["retried"].message == "ok" and results["too-many-failures"].message == "ok"


def test_fault_abort_status_and_share(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        route_test(
            "abort",
            """  request: {authority: faulty, path: /abort}
  count: 1000
  concurrency: 4
  expect: {status: {503: 30, 200: 70}, tolerance: 5}
""",
        ),
    )
    assert results["abort"].message == "ok"


@dataclass
class Running:
    envoy: EnvoyProcess
    upstreams: Upstreams

    def port(self, listener: str = "0.0.0.0_8080") -> int:
        return self.envoy.listener_port(listener)


@contextmanager
def running(tmp_path: Path, proxy: str = "mesh") -> Iterator[Running]:
    snapshot, _ = load(tmp_path)
    with stand_ins(snapshot, "t") as (upstreams, endpoints):
        options = RenderOptions(namespace="t", gateway_address="127.0.0.1", ephemeral_ports=True)
        rendered = render_proxy(snapshot, proxy, endpoints, options)
        with EnvoyProcess(bootstrap(rendered)) as envoy:
            yield Running(envoy, upstreams)


def test_fault_delay_holds_the_injected_share_for_at_least_the_delay(tmp_path: Path) -> None:
    with running(tmp_path) as proxy:
        responses = send_many(proxy.port(), 200, 8, authority="faulty", path="/delay")
    assert Counter(r.status for r in responses) == {200: 200}
    # Envoy's timers fire to the millisecond, a hair early as the client measures them.
    delayed = [r for r in responses if r.elapsed >= 0.29]
    share = 100 * len(delayed) / len(responses)
    assert 35 <= share <= 65, sorted(round(r.elapsed, 3) for r in responses)  # 50% ± 15 points


def test_a_circuit_breaker_overflows_with_503s(tmp_path: Path) -> None:
    cluster = "outbound|8080||guarded.t.svc.cluster.local"
    with running(tmp_path) as proxy:
        guarded = proxy.upstreams.get("guarded.t.svc.cluster.local")
        assert send(proxy.port(), authority="guarded").status == 200  # opens the one connection
        guarded.delay(1.0)
        responses = send_many(proxy.port(), 8, 8, authority="guarded")
        statuses = Counter(r.status for r in responses)
        overflow = proxy.envoy.counter(f"cluster.{cluster}.upstream_rq_pending_overflow")
    # One request is served on the connection, one waits (http1MaxPendingRequests 1), the
    # rest overflow at once with Envoy's own 503 (no upstream answered them).
    assert statuses[503] >= 5 and statuses[200] >= 1, statuses
    assert all(r.upstream is None for r in responses if r.status == 503)
    assert overflow == statuses[503]


def test_outlier_detection_ejects_an_endpoint_answering_5xx(tmp_path: Path) -> None:
    cluster = "outbound|8080||ejecting.t.svc.cluster.local"
    with running(tmp_path) as proxy:
        bad = proxy.upstreams.get("ejecting.t.svc.cluster.local", "bad")
        bad.always(500)
        first = [send(proxy.port(), authority="ejecting") for _ in range(8)]
        proxy.envoy.wait_for_counter(
            f"cluster.{cluster}.outlier_detection.ejections_enforced_total", 1
        )
        bad_attempts = bad.attempts
        after = send_many(proxy.port(), 20, authority="ejecting")
    assert [r.status for r in first].count(500) == 2  # round robin: the bad one twice, then out
    assert bad.attempts == bad_attempts  # nothing more reached it
    assert {r.upstream for r in after} == {"ejecting.t.svc.cluster.local/good"}
    assert {r.status for r in after} == {200}


def test_redirect_and_rewrite(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        route_test(
            "redirect",
            """  request: {authority: web, path: /old/page}
  count: 2
  expect: {status: 308, tolerance: 0, headers: {location: 'http://web.t.example/new'}}
""",
        ),
        route_test(
            "rewrite",
            """  request: {authority: web, path: /legacy/items?id=7}
  count: 2
  expect:
    destinations: {web/v1: 100}
    upstream: {path: '/v2/items?id=7', authority: web-internal}
""",
        ),
    )
    assert results["redirect"].message == "ok" and results["rewrite"].message == "ok"


def test_a_route_test_whose_expectation_is_wrong_fails(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        route_test(
            "wrong-subset",
            """  request: {authority: web, headers: {x-user: jason}}
  count: 10
  expect: {destinations: {web/v1: 100}}
""",
        ),
        route_test(
            "wrong-weights",
            """  request: {authority: web}
  count: 400
  concurrency: 4
  expect: {destinations: {web/v1: 50, web/v2: 50}}
""",
        ),
        route_test(
            "wrong-rewrite",
            """  request: {authority: web, path: /legacy/x}
  count: 1
  expect: {upstream: {path: /legacy/x}}
""",
        ),
    )
    assert not any(r.passed for r in results.values())
    assert results["wrong-subset"].message == "web/v1: expected 100% ± 5, got 0%"
    got = re.fullmatch(
        r"web/v1: expected 50% ± 5, got ([\d.]+)%; .*", results["wrong-weights"].message
    )
    assert got and 65 <= float(got.group(1)) <= 85  # the 75% the route sends, give or take
    assert results["wrong-rewrite"].message == "upstream path: expected '/legacy/x', got '/v2/x'"
