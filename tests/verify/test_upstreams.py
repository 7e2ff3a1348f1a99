"""The stand-in upstreams: identity and echo, failures, delays, counters, a quick stop."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator

import pytest

from reconciler.errors import VerifyError
from reconciler.verify.client import Response, send, send_many
from reconciler.verify.upstreams import Upstream, Upstreams

from .conftest import wait_until


@pytest.fixture
def reviews() -> Iterator[Upstream]:
    with Upstream("reviews", "v2") as upstream:
        yield upstream


def test_every_answer_says_who_gave_it_and_what_arrived(reviews: Upstream) -> None:
    answer = send(
        reviews.port,
        authority="reviews:9080",
        path="/api/v1?x=1",
        method="DELETE",
        headers={"X-Request-Id": "abc", "Cookie": "a=1"},
    )

    assert answer.status == 200
    assert (answer.headers["x-meshrc-host"], answer.headers["x-meshrc-subset"]) == ("reviews", "v2")
    assert answer.upstream == "reviews/v2" == reviews.name
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.echo == {
        "host": "reviews",
        "subset": "v2",
        "method": "DELETE",
        "path": "/api/v1?x=1",
        "headers": {"host": "reviews:9080", "x-request-id": "abc", "cookie": "a=1"},
    }


def test_an_upstream_without_subset(upstreams: Upstreams) -> None:
    ratings = upstreams.add("ratings")

    answer = send(ratings.port, authority="ratings")

    assert answer.headers["x-meshrc-subset"] == ""
    assert answer.upstream == "ratings"
    assert answer.echo is not None
    assert answer.echo["subset"] is None


def test_head_has_a_length_and_no_body(reviews: Upstream) -> None:
    answers = send_many(reviews.port, 2, authority="reviews", method="HEAD")

    assert [(a.status, a.body, a.echo) for a in answers] == [(200, b"", None)] * 2
    assert int(answers[0].headers["content-length"]) > 0


def test_fail_next_then_as_before(reviews: Upstream) -> None:
    reviews.fail_next(2, status=500)
    reviews.fail_next(1)

    statuses = [a.status for a in send_many(reviews.port, 5, authority="reviews")]

    assert statuses == [500, 500, 503, 200, 200]
    assert reviews.attempts == 5


def test_always_until_healthy(reviews: Upstream) -> None:
    reviews.always(503)
    failing = send_many(reviews.port, 3, authority="reviews")
    reviews.healthy()
    healed = send(reviews.port, authority="reviews")

    assert [a.status for a in failing] == [503] * 3
    assert all(a.upstream == "reviews/v2" for a in failing)  # the upstream's 503, not Envoy's
    assert healed.status == 200


def test_counters_by_path_and_reset(reviews: Upstream) -> None:
    send_many(reviews.port, 2, authority="reviews", path="/a")
    send(reviews.port, authority="reviews", path="/b")
    reviews.always(500)

    assert reviews.attempts == 3
    assert reviews.attempts_by_path == {"/a": 2, "/b": 1}

    reviews.reset()

    assert (reviews.attempts, reviews.attempts_by_path, reviews.max_in_flight) == (0, {}, 0)
    assert send(reviews.port, authority="reviews").status == 200


def test_a_delay_outlasts_a_short_client_timeout(reviews: Upstream) -> None:
    reviews.delay(30)

    with pytest.raises(VerifyError, match=rf"via 127\.0\.0\.1:{reviews.port} failed: timed out"):
        send(reviews.port, authority="reviews", timeout=0.3)

    assert reviews.attempts == 1


def test_healthy_releases_held_requests(reviews: Upstream) -> None:
    reviews.delay(60)
    answers: list[Response] = []
    client = threading.Thread(target=lambda: answers.append(send(reviews.port, authority="r")))
    client.start()
    wait_until(lambda: reviews.in_flight == 1)

    reviews.healthy()
    client.join(timeout=30)

    assert not client.is_alive()
    assert [a.status for a in answers] == [200]
    assert reviews.in_flight == 0


def test_stop_ends_held_requests_and_kept_alive_connections() -> None:
    upstream = Upstream("reviews")
    idle = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=30)
    idle.request("GET", "/")
    idle.getresponse().read()  # the connection stays open, its server thread reading it
    upstream.delay(60)
    held = threading.Thread(target=_send_ignoring_errors, args=(upstream.port,))
    held.start()
    wait_until(lambda: upstream.in_flight == 1)

    began = time.monotonic()
    upstream.stop()
    stopped_in = time.monotonic() - began
    held.join(timeout=30)

    assert stopped_in < 30  # not the 60 s delay, nor a wait for the idle connection
    assert not held.is_alive()
    with pytest.raises((OSError, http.client.HTTPException)):
        idle.request("GET", "/")
        idle.getresponse()
    idle.close()
    upstream.stop()  # a second stop does nothing


def test_upstreams_by_host_and_subset() -> None:
    with Upstreams() as upstreams:
        v1 = upstreams.add("reviews", "v1")
        v2 = upstreams.add("reviews", "v2")
        ratings = upstreams.add("ratings")
        with pytest.raises(VerifyError, match="reviews/v1 exists already"):
            upstreams.add("reviews", "v1")
        with pytest.raises(VerifyError, match="no upstream reviews/v3"):
            upstreams.get("reviews", "v3")
        assert upstreams.get("reviews", "v2") is v2
        assert list(upstreams) == [v1, v2, ratings]
        assert len(upstreams) == 3
        assert len({u.port for u in upstreams}) == 3
        v1.always(500)
        send(v1.port, authority="reviews")
        upstreams.reset()
        assert (v1.attempts, send(v1.port, authority="reviews").status) == (0, 200)

    for upstream in (v1, v2, ratings):
        with pytest.raises(VerifyError, match="Connection refused"):
            send(upstream.port, authority="reviews", timeout=5)


def _send_ignoring_errors(port: int) -> None:
    """A client whose request the stopping upstream cuts off."""
    try:
        send(port, authority="reviews")
    except VerifyError:
        return
