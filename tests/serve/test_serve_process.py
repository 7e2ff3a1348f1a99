"""``meshrc serve`` as a real process. SIGTERM in the middle of a sync, fetching from a real
smart-HTTP Git server (``git http-backend``) that the test holds mid-fetch:

- With time left (``--shutdown-timeout``), the sync finishes, is recorded applied, and the
  process exits 0.
- Out of time, the sync stops before its apply: the target is untouched, the history records
  the commit as abandoned, and the process still exits 0 (nothing is left half-done).

And ``--opa-url`` (MESHRC_OPA_URL, as the chart's OPA sidecar sets it): the syncs' policies are
evaluated by that real OPA server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from source.conftest import HTTPServed, http_git  # noqa: F401  (the fixture)
from sync.test_envoy_target import Repository as MeshRepository
from sync.test_envoy_target import setup

from reconciler.policy.engines import managed_opa
from reconciler.state import SyncResult, open_store
from reconciler.targets.envoy import EnvoyFolder
from serve.helpers import SECRET, push_body, signed
from serve.test_command import MESHRC, ROOT, free_port

__all__ = ["setup"]


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    events: list[dict[str, Any]]

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.process.poll() is not None
            for logged in list(self.events):
                if logged["event"] == event:
                    return logged
            if exited:
                time.sleep(0.2)  # the rest of its log
                break
            time.sleep(0.02)
        raise AssertionError(f"no {event!r} in the log: {self.events}")


def _read_log(process: subprocess.Popen[str], events: list[dict[str, Any]]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        events.append(json.loads(line) if line.startswith("{") else {"event": "text", "line": line})


@contextmanager
def _serving(
    tmp_path: Path, url: str, endpoints: Path, *options: str, env: dict[str, str]
) -> Iterator[Served]:
    config = tmp_path / "serve.yaml"
    config.write_text(
        f"repositories:\n  - {{name: mesh, url: '{url}', endpoints: '{endpoints}'}}\n"
    )
    port = free_port()
    command = [*MESHRC, "serve", "--config", str(config), "--port", str(port)]
    command += ["--state-dir", str(tmp_path / "state"), *options]
    env = {
        **os.environ,
        "MESHRC_WEBHOOK_SECRET": SECRET,
        "MESHRC_CACHE_DIR": str(tmp_path / "cache"),
        **env,
    }
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    events: list[dict[str, Any]] = []
    reader = threading.Thread(target=_read_log, args=(process, events), daemon=True)
    reader.start()
    served = Served(process, f"http://127.0.0.1:{port}", events)
    try:
        served.wait_for("serving")
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        reader.join(10)


def _push_webhook(served: Served) -> None:
    body = push_body("generic", "mesh")
    request = urllib.request.Request(
        f"{served.url}/webhooks/generic", body, signed("generic", body, "delivery-1")
    )
    deadline = time.monotonic() + 30
    while True:  # uvicorn may log "serving" a moment before it accepts
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 202
                return
        except ConnectionRefusedError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        except urllib.error.URLError as exc:
            assert isinstance(exc.reason, ConnectionRefusedError), exc
            assert time.monotonic() < deadline
            time.sleep(0.05)


def _held_fetch(tmp_path: Path, git: HTTPServed, endpoints: Path, timeout: float) -> Any:
    """meshrc serve following the repository on ``git``, with this shutdown timeout."""
    credentials = {"MESHRC_GIT_USERNAME": git.username, "MESHRC_GIT_TOKEN": git.token}
    url, wait = git.url("mesh.git"), ["--shutdown-timeout", str(timeout)]
    return _serving(tmp_path, url, endpoints, *wait, env=credentials)


@pytest.fixture
def remote(
    setup: tuple[MeshRepository, Path, Path, int],
    http_git: HTTPServed,  # noqa: F811
) -> tuple[MeshRepository, Path, HTTPServed]:
    """The mesh repository (80/20) as a bare repository on the smart-HTTP server."""
    repo, endpoints, _state, _offset = setup
    bare = http_git.root / "mesh.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.root), str(bare)], check=True)
    return repo, endpoints, http_git


@pytest.mark.usefixtures("envoy_binary")
def test_a_sync_in_flight_finishes_after_sigterm(
    tmp_path: Path, remote: tuple[MeshRepository, Path, HTTPServed]
) -> None:
    repo, endpoints, git = remote
    head = str(repo.repo.head.target)
    git.gate.clear()
    with _held_fetch(tmp_path, git, endpoints, timeout=60) as served:
        _push_webhook(served)
        assert git.held.wait(30), "the sync never fetched"
        served.process.send_signal(signal.SIGTERM)
        served.wait_for("stopping")
        time.sleep(0.3)
        assert served.process.poll() is None, "exited with a sync in flight"
        git.gate.set()
        assert served.process.wait(60) == 0
    finished = served.wait_for("sync-finished")
    assert (finished["commit"], finished["result"]) == (head, "applied")
    assert served.wait_for("stopped")["syncs_ended"] is True
    assert "abandoning" not in [e["event"] for e in served.events]
    with open_store(None, tmp_path / "state") as store:
        (record,) = store.history(target="local")
    assert (record.commit, record.result) == (head, SyncResult.APPLIED)
    current = EnvoyFolder(tmp_path / "state" / "envoy" / "local").current()
    assert current is not None and current.commit == head


@pytest.mark.usefixtures("envoy_binary")
def test_out_of_time_a_sync_stops_before_its_apply_and_is_recorded(
    tmp_path: Path, remote: tuple[MeshRepository, Path, HTTPServed]
) -> None:
    repo, endpoints, git = remote
    head = str(repo.repo.head.target)
    git.gate.clear()
    with _held_fetch(tmp_path, git, endpoints, timeout=0.2) as served:
        _push_webhook(served)
        assert git.held.wait(30), "the sync never fetched"
        served.process.send_signal(signal.SIGTERM)
        abandoning = served.wait_for("abandoning")
        assert abandoning["repositories"] == ["mesh"]
        git.gate.set()  # the fetch ends; the sync must stop before it applies anything
        assert served.process.wait(60) == 0
    finished = served.wait_for("sync-finished")
    assert (finished["commit"], finished["result"]) == (head, "abandoned")
    assert served.wait_for("stopped")["syncs_ended"] is True
    with open_store(None, tmp_path / "state") as store:
        (record,) = store.history(target="local")
        assert store.last_applied("local") is None
    assert (record.commit, record.result) == (head, SyncResult.ABANDONED)
    assert record.error is not None and "nothing was applied" in record.error
    assert EnvoyFolder(tmp_path / "state" / "envoy" / "local").current() is None


def _opa_data_requests(url: str) -> float:
    """How many evaluations OPA has answered (its own Prometheus counter)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_request_duration_seconds_count") and 'handler="v1/data"' in line
    )


@pytest.mark.usefixtures("envoy_binary")
def test_opa_url_from_the_environment_evaluates_the_policies(
    tmp_path: Path, setup: tuple[MeshRepository, Path, Path, int], opa_binary: Path
) -> None:
    repo, endpoints, _state, _offset = setup
    head = str(repo.repo.head.target)
    with managed_opa(binary=opa_binary) as opa:
        before = _opa_data_requests(opa)
        env = {"MESHRC_OPA_URL": opa}
        with _serving(tmp_path, str(repo.root), endpoints, env=env) as served:
            _push_webhook(served)
            finished = served.wait_for("sync-finished")
            served.process.send_signal(signal.SIGTERM)
            assert served.process.wait(60) == 0
        assert (finished["commit"], finished["result"]) == (head, "applied")
        assert _opa_data_requests(opa) > before
