"""Plain HTTP/1.1 requests to a loopback port, as a mesh client would send them through Envoy.

``http.client`` rather than a higher-level library: nothing is added, retried, redirected or
pooled behind the test's back, and the Host header is exactly the authority asked for.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reconciler.errors import VerifyError

HOST = "127.0.0.1"

# Headers every stand-in upstream sets (reconciler.verify.upstreams): who answered.
UPSTREAM_HOST_HEADER = "x-meshrc-host"
UPSTREAM_SUBSET_HEADER = "x-meshrc-subset"


def upstream_name(host: str, subset: str | None) -> str:
    """How an upstream is named in results: ``host/subset``, or ``host`` without a subset."""
    return f"{host}/{subset}" if subset else host


@dataclass(frozen=True)
class Response:
    """One answer: header names lowercased, repeated headers joined with ", "."""

    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float  # seconds from sending the request to the end of the body

    @property
    def upstream(self) -> str | None:
        """``host/subset`` (or ``host``) of the stand-in upstream that answered; None when the
        answer is Envoy's own (no route, no healthy upstream, timeout, fault abort, redirect)."""
        host = self.headers.get(UPSTREAM_HOST_HEADER)
        if host is None:
            return None
        return upstream_name(host, self.headers.get(UPSTREAM_SUBSET_HEADER))

    @property
    def echo(self) -> dict[str, Any] | None:
        """What the upstream received (method, path, headers...), as it echoed it; None when
        the answer did not come from an upstream, or has no body (HEAD)."""
        if self.upstream is None or not self.body:
            return None
        echoed: dict[str, Any] = json.loads(self.body)
        return echoed


def send(
    port: int,
    *,
    authority: str,
    path: str = "/",
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:
    """Send one request to 127.0.0.1:``port`` on a new connection, with Host = ``authority``."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        return _exchange(connection, authority, path, method, headers or {})
    finally:
        connection.close()


def send_many(
    port: int,
    count: int,
    concurrency: int = 1,
    *,
    authority: str,
    path: str = "/",
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> list[Response]:
    """Send ``count`` requests over ``concurrency`` connections; the answers in request order.

    Each connection has a thread of its own and is kept alive for its share of the requests.
    The connections are all open before any request leaves, and the first requests leave
    together: with ``count == concurrency`` every request is in flight at once (what makes a
    circuit breaker overflow deterministically).
    """
    if count < 0 or concurrency < 1:
        raise ValueError("send_many needs count >= 0 and concurrency >= 1")
    lanes = min(concurrency, count)
    if lanes == 0:
        return []
    results: dict[int, Response] = {}
    start = threading.Barrier(lanes, timeout=timeout)

    def lane(first: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise _failure(port, method, authority, path, exc) from None
            start.wait()
            for index in range(first, count, lanes):
                results[index] = _exchange(connection, authority, path, method, headers or {})
        except threading.BrokenBarrierError:
            return  # another lane failed (its error is reported) or the start timed out
        except BaseException:
            start.abort()  # the other lanes stop waiting for this one
            raise
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="meshrc-send") as pool:
        for future in [pool.submit(lane, first) for first in range(lanes)]:
            future.result()
    if len(results) != count:
        raise VerifyError(f"{lanes} connections to {HOST}:{port} did not open within {timeout:g} s")
    return [results[index] for index in range(count)]


def _exchange(
    connection: http.client.HTTPConnection,
    authority: str,
    path: str,
    method: str,
    headers: Mapping[str, str],
) -> Response:
    began = time.monotonic()
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", authority)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        answer = connection.getresponse()
        body = answer.read()
    except (OSError, http.client.HTTPException) as exc:
        raise _failure(connection.port, method, authority, path, exc) from None
    received: dict[str, str] = {}
    for name, value in answer.getheaders():
        key = name.lower()
        received[key] = f"{received[key]}, {value}" if key in received else value
    return Response(answer.status, received, body, time.monotonic() - began)


def _failure(port: int, method: str, authority: str, path: str, exc: BaseException) -> VerifyError:
    reason = str(exc) or type(exc).__name__
    return VerifyError(f"{method} http://{authority}{path} via {HOST}:{port} failed: {reason}")
