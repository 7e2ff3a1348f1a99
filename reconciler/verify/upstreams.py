"""Loopback stand-ins for the mesh's endpoints: one small HTTP/1.1 server per host and subset.

Every answer says who gave it (headers ``x-meshrc-host`` and ``x-meshrc-subset``) and echoes
what arrived (method, path, headers) as JSON, so that a test sees where Envoy sent a request
and how it rewrote it. Failures, delays and counters make retries, timeouts, outlier
detection and circuit breakers observable.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reconciler.errors import VerifyError
from reconciler.processes import StopsOnExit
from reconciler.verify.client import (
    HOST,
    UPSTREAM_HOST_HEADER,
    UPSTREAM_SUBSET_HEADER,
    upstream_name,
)


class Upstream(StopsOnExit):
    """One stand-in endpoint, serving on 127.0.0.1 from the moment it is created.

    Its behaviour can change at any time from any thread: :meth:`fail_next`, :meth:`always`,
    :meth:`delay`, :meth:`healthy`. A long delay holds requests open until :meth:`healthy` or
    :meth:`stop` releases them: ``in_flight`` then says how many are held, and
    ``max_in_flight`` whether requests overlapped.
    """

    def __init__(self, host: str, subset: str | None = None) -> None:
        self.host = host
        self.subset = subset
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)  # ends delays early
        self._generation = 0  # a delayed request waits while this does not change
        self._stopped = False
        self._failures: list[int] = []
        self._status = 200
        self._delay = 0.0
        self.attempts = 0
        self._attempts_by_path: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        try:
            self._server = _Server(self)
        except OSError as exc:
            raise VerifyError(f"upstream {self.name}: cannot listen on {HOST}: {exc}") from None
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long stop() waits for the accept loop
            name=f"meshrc-upstream-{self.name}",
            daemon=True,
        )
        self._thread.start()

    @property
    def name(self) -> str:
        """``host/subset`` or ``host``, as :attr:`Response.upstream` names it."""
        return upstream_name(self.host, self.subset)

    @property
    def attempts_by_path(self) -> dict[str, int]:
        """Requests received by path (a copy)."""
        with self._lock:
            return dict(self._attempts_by_path)

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` (then as before)."""
        with self._lock:
            self._failures.extend([status] * count)

    def always(self, status: int) -> None:
        """Answer every request with ``status`` until :meth:`healthy`."""
        with self._lock:
            self._status = status

    def delay(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each request (a slow or stuck endpoint)."""
        with self._lock:
            self._delay = seconds

    def healthy(self) -> None:
        """Answer 200 at once again: pending failures, ``always`` and ``delay`` cleared, and
        the requests being delayed released."""
        with self._lock:
            self._failures.clear()
            self._status = 200
            self._delay = 0.0
            self._release()

    def reset(self) -> None:
        """Back to a new upstream's state: healthy, with every counter at zero."""
        self.healthy()
        with self._lock:
            self.attempts = 0
            self._attempts_by_path.clear()
            self.max_in_flight = self.in_flight

    def stop(self) -> None:
        """Stop serving and end every connection and request thread; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._release()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()  # joins the request threads
        self._thread.join()

    def __enter__(self) -> Upstream:
        return self

    def _admit(self, path: str) -> int:
        """Count a request, hold it for the delay (or until released); its status."""
        with self._lock:
            self.attempts += 1
            self._attempts_by_path[path] = self._attempts_by_path.get(path, 0) + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            status = self._failures.pop(0) if self._failures else self._status
            generation = self._generation
            self._released.wait_for(
                lambda: self._stopped or self._generation != generation, timeout=self._delay
            )
            self.in_flight -= 1  # before the answer leaves: a client never sees it counted
            return status

    def _release(self) -> None:
        """Wake the delayed requests (the lock held)."""
        self._generation += 1
        self._released.notify_all()


class _Server(ThreadingHTTPServer):
    """A thread per connection, which stop() can end: ``server_close`` joins the threads
    (``block_on_close``), once the connections they read from are shut down (Envoy keeps its
    upstream connections alive) and delayed answers are woken."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((HOST, 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every thread blocked reading a kept-alive connection."""
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue  # already closed by the peer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms stall
    server: _Server

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except ConnectionError:
            self.close_connection = True  # the client went away mid-request

    def _answer(self) -> None:
        upstream = self.server.upstream
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True  # a chunked body this stand-in does not read
        status = upstream._admit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        body = json.dumps(
            {
                "host": upstream.host,
                "subset": upstream.subset,
                "method": self.command,
                "path": self.path,
                "headers": headers,
            }
        ).encode()
        self.send_response(status)
        self.send_header(UPSTREAM_HOST_HEADER, upstream.host)
        self.send_header(UPSTREAM_SUBSET_HEADER, upstream.subset or "")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the counters say what arrived."""


class Upstreams(StopsOnExit):
    """A set of stand-in upstreams, stopped together on exit."""

    def __init__(self) -> None:
        self._upstreams: dict[tuple[str, str | None], Upstream] = {}

    def add(self, host: str, subset: str | None = None) -> Upstream:
        """Start the stand-in for ``host`` (and ``subset``)."""
        if (host, subset) in self._upstreams:
            raise VerifyError(f"upstream {upstream_name(host, subset)} exists already")
        upstream = self._upstreams[host, subset] = Upstream(host, subset)
        return upstream

    def get(self, host: str, subset: str | None = None) -> Upstream:
        try:
            return self._upstreams[host, subset]
        except KeyError:
            raise VerifyError(f"no upstream {upstream_name(host, subset)}") from None

    def reset(self) -> None:
        """Every upstream back to healthy with zero counters (between two tests)."""
        for upstream in self:
            upstream.reset()

    def stop(self) -> None:
        """Stop them all at once (each waits for its accept loop and request threads)."""
        workers = max(len(self._upstreams), 1)
        with ThreadPoolExecutor(workers, thread_name_prefix="meshrc-upstream-stop") as pool:
            list(pool.map(Upstream.stop, self._upstreams.values()))

    def __iter__(self) -> Iterator[Upstream]:
        return iter(list(self._upstreams.values()))

    def __len__(self) -> int:
        return len(self._upstreams)

    def __enter__(self) -> Upstreams:
        return self
