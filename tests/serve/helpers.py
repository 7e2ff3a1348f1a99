"""The real app, served by uvicorn on a free loopback port in a thread, and HTTP helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from reconciler.serve.app import create_app
from reconciler.serve.config import ServeConfig
from reconciler.serve.metrics import Metrics
from reconciler.serve.scheduler import Scheduler
from reconciler.state import StateStore

SECRET = "s3cret-for-tests"


@dataclass
class Running:
    url: str
    scheduler: Scheduler
    metrics: Metrics

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample in /metrics (0 when absent)."""
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        key = f"{name}{{{wanted}}}" if labels else name
        for line in self.get("/metrics")[1].splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == key or _sorted(sample) == key:
                return float(value)
        return 0.0


def _sorted(sample: str) -> str:
    if "{" not in sample:
        return sample
    name, _, rest = sample.partition("{")
    parts = sorted(rest.rstrip("}").split(","))
    return f"{name}{{{','.join(parts)}}}"


@contextmanager
def running(
    config: ServeConfig, store: StateStore, state_dir: Path, debounce: float = 0.05
) -> Iterator[Running]:
    metrics = Metrics()
    scheduler = Scheduler(
        config.repositories, store, metrics, state_dir, state_dir / "cache", debounce
    )
    app = create_app(config, store, scheduler, metrics)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Running(f"http://127.0.0.1:{port}", scheduler, metrics)
    finally:
        server.should_exit = True
        thread.join(10)
        scheduler.shutdown(30)


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(provider: str, body: bytes, delivery: str, secret: str = SECRET) -> dict[str, str]:
    """The headers the provider sends with ``body``."""
    digest = sign(body, secret)
    headers = {"Content-Type": "application/json"}
    if provider == "github":
        headers |= {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery,
                    "X-GitHub-Event": "push"}  # fmt: skip
    elif provider == "gitlab":
        headers |= {"X-Gitlab-Token": secret, "X-Gitlab-Event": "Push Hook",
                    "X-Gitlab-Event-UUID": delivery}  # fmt: skip
    elif provider == "gitea":
        headers |= {"X-Gitea-Signature": digest, "X-Gitea-Delivery": delivery,
                    "X-Gitea-Event": "push"}  # fmt: skip
    else:
        headers |= {"X-Meshrc-Signature": f"sha256={digest}", "X-Meshrc-Delivery": delivery}
    return headers


def push_body(provider: str, repository: str, ref: str = "refs/heads/main") -> bytes:
    if provider == "generic":
        return json.dumps({"repository": repository, "ref": ref}).encode()
    key = "project" if provider == "gitlab" else "repository"
    return json.dumps({"ref": ref, key: {"name": repository}}).encode()
