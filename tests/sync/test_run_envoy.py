"""``meshrc sync --run-envoy``: meshrc runs the Envoy of an Envoy target itself, as a real
process, keeps it running when it dies, and later syncs confirm through it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli.helpers import meshrc_command

from reconciler.state import SyncResult, open_store
from reconciler.syncing import sync
from reconciler.targets.envoy import ADMIN_FILE
from sync.test_envoy_target import Repository, options, setup, split

__all__ = ["setup"]  # the fixture, shared with the other Envoy target tests

pytestmark = pytest.mark.usefixtures("envoy_binary")


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_envoy_serves_restarts_and_confirms(
    setup: tuple[Repository, Path, Path, int], tmp_path: Path
) -> None:
    repo, endpoints, state, offset = setup
    folder = state / "envoy" / "local"
    log = tmp_path / "meshrc.log"
    command = [*meshrc_command(), "sync", str(repo.root), "--endpoints", str(endpoints)]
    command += ["--state-dir", str(state), "--run-envoy"]
    env = {**os.environ, "MESHRC_CACHE_DIR": str(tmp_path / "cache")}
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=output, env=env)
    try:
        wait_for(lambda: (folder / ADMIN_FILE).exists(), "the supervised Envoy")
        first = (folder / ADMIN_FILE).read_text()
        assert set(split(8080 + offset)) == {"v1", "v2"}
        (pid,) = map(int, re.findall(r"Envoy (\d+) serves", log.read_text()))
        os.kill(pid, signal.SIGKILL)  # the Envoy dies: meshrc starts it again
        wait_for(lambda: len(re.findall(r"Envoy (\d+) serves", log.read_text())) == 2, "a restart")
        wait_for(lambda: (folder / ADMIN_FILE).read_text() != first, "the new admin URL")
        assert set(split(8080 + offset)) == {"v1", "v2"}

        repo.commit(100, 0, "all to v1")
        with open_store(None, state) as store:
            (outcome,) = sync(options(repo, endpoints, state), store, lambda _m: None)
        assert outcome.result == SyncResult.APPLIED and "confirmed by Envoy" in outcome.detail
        assert split(8080 + offset) == {"v1": 200}
        second = int(re.findall(r"Envoy (\d+) serves", log.read_text())[-1])
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()
    assert not (folder / ADMIN_FILE).exists()
    wait_for(lambda: not alive(second), "the Envoy to stop", timeout=10)
