"""The client: one request or many, in parallel when asked, and errors that name the address."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from reconciler.errors import VerifyError
from reconciler.verify.client import Response, send, send_many
from reconciler.verify.envoy import EnvoyProcess
from reconciler.verify.upstreams import Upstream

from .conftest import LISTENER, Bootstrap, wait_until


@pytest.fixture
def reviews() -> Iterator[Upstream]:
    with Upstream("reviews") as upstream:
        yield upstream


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_the_host_header_is_the_authority_and_nothing_is_added(reviews: Upstream) -> None:
    answer = send(reviews.port, authority="reviews.prod.svc.cluster.local", method="POST")

    assert answer.echo is not None
    assert answer.echo["method"] == "POST"
    assert answer.echo["headers"] == {"host": "reviews.prod.svc.cluster.local"}
    assert answer.elapsed > 0


def test_response_names_the_upstream_from_its_headers() -> None:
    def response(headers: dict[str, str]) -> Response:
        return Response(200, headers, b"{}", 0.01)

    assert response({"x-meshrc-host": "reviews", "x-meshrc-subset": "v1"}).upstream == "reviews/v1"
    assert response({"x-meshrc-host": "reviews", "x-meshrc-subset": ""}).upstream == "reviews"
    assert response({"server": "envoy"}).upstream is None
    assert response({"server": "envoy"}).echo is None


def test_an_unreachable_port_is_a_verify_error_naming_it(closed_port: int) -> None:
    with pytest.raises(VerifyError, match=rf"GET http://reviews/x via 127\.0\.0\.1:{closed_port}"):
        send(closed_port, authority="reviews", path="/x")
    with pytest.raises(VerifyError, match=rf"127\.0\.0\.1:{closed_port} failed"):
        send_many(closed_port, 6, concurrency=3, authority="reviews")


def test_send_many_keeps_request_order(reviews: Upstream) -> None:
    reviews.fail_next(1, 500)
    answers = send_many(reviews.port, 3, authority="reviews")
    reviews.fail_next(1, 502)
    parallel = send_many(reviews.port, 5, concurrency=8, authority="reviews")

    assert [a.status for a in answers] == [500, 200, 200]
    assert sorted(a.status for a in parallel) == [200, 200, 200, 200, 502]
    assert reviews.attempts == 8
    assert send_many(reviews.port, 0, concurrency=4, authority="reviews") == []
    with pytest.raises(ValueError, match="concurrency >= 1"):
        send_many(reviews.port, 1, concurrency=0, authority="reviews")


def test_parallel_requests_are_all_in_flight_at_once(reviews: Upstream) -> None:
    """Held by the upstream, the four requests are seen together: no timing involved."""
    reviews.delay(60)
    answers: list[Response] = []
    client = threading.Thread(
        target=lambda: answers.extend(send_many(reviews.port, 4, 4, authority="reviews"))
    )
    client.start()
    wait_until(lambda: reviews.in_flight == 4)
    reviews.healthy()
    client.join(timeout=30)

    assert [a.status for a in answers] == [200] * 4
    assert reviews.max_in_flight == 4


def test_a_circuit_breaker_overflows_deterministically(
    envoy_binary: str, reviews: Upstream, bootstrap: Bootstrap
) -> None:
    """What the RouteTest runner relies on. With its one connection open (a first request)
    and held, one request may wait and the other sent with it overflows: Envoy's own 503."""
    config = bootstrap({"/": reviews})
    config["static_resources"]["clusters"][0]["circuit_breakers"] = {
        "thresholds": [{"max_connections": 1, "max_pending_requests": 1, "max_requests": 1}]
    }
    answers: list[Response] = []
    with EnvoyProcess(config, binary=envoy_binary) as proxy:
        port = proxy.listener_port(LISTENER)
        assert send(port, authority="reviews").status == 200
        reviews.delay(60)
        client = threading.Thread(
            target=lambda: answers.extend(send_many(port, 3, 3, authority="reviews"))
        )
        client.start()
        overflowed = proxy.wait_for_counter("cluster.reviews.upstream_rq_pending_overflow", 1)
        wait_until(lambda: reviews.in_flight == 1)
        reviews.healthy()
        client.join(timeout=30)
        total = proxy.wait_for_counter("cluster.reviews.upstream_rq_total", 3)

    assert sorted((a.status, a.upstream) for a in answers) == [
        (200, "reviews"),
        (200, "reviews"),
        (503, None),
    ]
    assert [a.headers.get("x-envoy-overloaded") for a in answers if not a.upstream] == ["true"]
    assert (overflowed, total) == (1, 3)
    assert reviews.max_in_flight == 1
