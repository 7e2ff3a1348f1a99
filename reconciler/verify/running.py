"""Run RouteTests: the rendered configuration in a real Envoy, stand-ins for every endpoint.

Each test gets an Envoy of its own (an ejected host, an open circuit or a retry budget of
one test never leaks into the next); the stand-ins of a proxy's services are shared and reset
between tests. Every service instance is a stand-in on loopback, named by its host and subset,
so where a request went is read from the answer itself.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import MeshrcError
from reconciler.model.common import duration_ns
from reconciler.model.destinationrule import Subset
from reconciler.model.snapshot import Snapshot
from reconciler.render.clusters import subsets_of
from reconciler.render.endpoints import ANY_PORT, Endpoint, EndpointTable
from reconciler.render.layouts import bootstrap
from reconciler.render.options import MESH, RenderOptions
from reconciler.render.proxies import RenderedProxy, render_proxy
from reconciler.render.registry import mesh_services
from reconciler.verify.client import send_many
from reconciler.verify.credentials import write_stand_in_secrets
from reconciler.verify.envoy import EnvoyProcess
from reconciler.verify.routetests import InvalidTest, Observation, RouteTest, judge
from reconciler.verify.upstreams import Upstreams

KEEP_ECHOES = 50
"""What upstreams received is kept for this many answers: enough to judge a rewrite."""


@dataclass(frozen=True)
class RouteTestResult:
    name: str
    passed: bool
    expected: dict[str, Any]
    observed: dict[str, Any]
    message: str
    file: str
    line: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "observed": self.observed,
            "message": self.message,
            "file": self.file,
            "line": self.line,
        }


def run_route_tests(
    snapshot: Snapshot,
    tests: list[RouteTest],
    invalid: list[InvalidTest],
    binary: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[RouteTestResult]:
    """Every test's result, in the order of the files; invalid tests fail with their reason."""
    results = [
        RouteTestResult(t.name, False, {}, {}, f"invalid RouteTest: {t.message}", t.file, t.line)
        for t in invalid
    ]
    groups: dict[tuple[str, str], list[RouteTest]] = {}
    for test in tests:
        groups.setdefault((test.spec.proxy, test.namespace), []).append(test)
    for (proxy, namespace), members in sorted(groups.items()):
        with (
            stand_ins(snapshot, namespace) as (upstreams, endpoints),
            tempfile.TemporaryDirectory(prefix="meshrc-secrets-") as secrets,
        ):
            write_stand_in_secrets(Path(secrets), _credential_names(snapshot, proxy))
            options = RenderOptions(
                namespace=namespace,
                gateway_address="127.0.0.1",
                ephemeral_ports=True,
                credentials_dir=secrets,
            )
            try:
                rendered = render_proxy(snapshot, proxy, endpoints, options)
            except MeshrcError as exc:
                results += [_failed(t, str(exc)) for t in members]
                continue
            for test in members:
                if progress:
                    progress(f"RouteTest {test.name}")
                results.append(_run(test, rendered, upstreams, binary))
    return sorted(results, key=lambda r: (r.file, r.line))


@contextmanager
def stand_ins(snapshot: Snapshot, namespace: str) -> Iterator[tuple[Upstreams, EndpointTable]]:
    """A stand-in per subset of every service (one per service without subsets), and the
    endpoints that put each into the clusters of its host and subset."""
    table = EndpointTable()
    with Upstreams() as upstreams:
        for service in mesh_services(snapshot, namespace):
            subsets: list[Subset | None] = [
                *subsets_of(snapshot.rules_for(service.host, namespace))
            ]
            for subset in subsets or [None]:
                upstream = upstreams.add(service.host, subset.name if subset else None)
                labels = tuple(sorted((subset.labels or {}).items())) if subset else ()
                table.add(service.host, ANY_PORT, Endpoint("127.0.0.1", upstream.port, labels))
        yield upstreams, table


def _credential_names(snapshot: Snapshot, proxy: str) -> list[str]:
    """The Secrets a Gateway's HTTPS servers name (none for the mesh)."""
    namespace, _, name = proxy.partition("/")
    gateway = snapshot.gateways.get((namespace, name))
    servers = (gateway.spec.servers or []) if gateway is not None else []
    return sorted({s.tls.credential_name for s in servers if s.tls and s.tls.credential_name})


def _failed(test: RouteTest, message: str) -> RouteTestResult:
    return RouteTestResult(test.name, False, test.raw_expect, {}, message, test.file, test.line)


def _run(
    test: RouteTest, rendered: RenderedProxy, upstreams: Upstreams, binary: str | None
) -> RouteTestResult:
    spec = test.spec
    upstreams.reset()
    for written, behaviour in spec.upstreams.items():
        key = test.host_key(written)
        chosen = [u for u in upstreams if u.name == key or u.name.startswith(key + "/")]
        if not chosen:
            return _failed(test, f"upstreams: no stand-in for {written} ({key})")
        for upstream in chosen:
            if behaviour.always is not None:
                upstream.always(behaviour.always)
            if behaviour.fail_next:
                upstream.fail_next(behaviour.fail_next, behaviour.status)
            if behaviour.delay:
                upstream.delay(duration_ns(behaviour.delay) / 1e9)
    listener = _listener(test, rendered)
    if listener is None:
        ports = ", ".join(x["name"].rsplit("_", 1)[1] for x in rendered.listeners) or "none"
        return _failed(
            test, f"proxy {spec.proxy} has no listener for this request (ports: {ports})"
        )
    request = spec.request
    try:
        with EnvoyProcess(bootstrap(rendered), binary=binary) as envoy:
            port = envoy.listener_port(listener)
            responses = send_many(
                port,
                spec.count,
                spec.concurrency,
                authority=request.authority,
                path=request.path,
                method=request.method,
                headers=request.headers,
            )
    finally:
        for upstream in upstreams:
            upstream.healthy()  # releases requests a delay still holds
    seen = Observation(count=len(responses))
    for response in responses:
        seen.statuses[response.status] += 1
        seen.latencies.append(response.elapsed)
        seen.response_headers.append(response.headers)
        if response.upstream is not None:
            seen.destinations[response.upstream] += 1
            if len(seen.upstream_requests) < KEEP_ECHOES and response.echo is not None:
                seen.upstream_requests.append(response.echo)
    seen.attempts = {u.name: u.attempts for u in upstreams}
    problems = judge(test, seen)
    message = "; ".join(problems) if problems else "ok"
    return RouteTestResult(
        test.name, not problems, test.raw_expect, seen.summary(), message, test.file, test.line
    )


def _listener(test: RouteTest, rendered: RenderedProxy) -> str | None:
    """The listener the request goes to: its port, else the one port that can serve it."""
    names: list[str] = [x["name"] for x in rendered.listeners]
    port = test.spec.request.port
    if port is not None:
        wanted = f"0.0.0.0_{port}"
        return wanted if wanted in names else None
    if len(names) == 1:
        return names[0]
    if rendered.proxy != MESH:
        return "0.0.0.0_80" if "0.0.0.0_80" in names else None
    host = test.host_key(test.spec.request.authority.split(":")[0])
    serving: list[str] = [
        x["name"]
        for x in rendered.listeners
        for chain in x["filter_chains"]
        for vh in chain["filters"][0]["typed_config"]["route_config"]["virtual_hosts"]
        if host in vh["domains"]
    ]
    return serving[0] if len(serving) == 1 else None
