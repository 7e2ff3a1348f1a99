"""``meshrc serve`` as a real process: JSON logs, readiness, SIGTERM while idle exits 0;
a bad serve.yaml is one line naming the file and the key."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cli.helpers import invoke

ROOT = Path(__file__).resolve().parents[2]
# this checkout's meshrc (an installed console script may be another checkout's)
MESHRC = [sys.executable, "-c", "from reconciler.cli.main import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text(f"repositories:\n  - {{name: mesh, url: {tmp_path / 'repo'}}}\n")
    port = free_port()
    command = [*MESHRC, "serve", "--config", str(config), "--port", str(port)]
    command += ["--state-dir", str(tmp_path / "state")]
    env = {**os.environ, "MESHRC_WEBHOOK_SECRET": "do-not-log-me"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "never ready"
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read() if process.stderr else ""
    assert code == 0, stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events][:1] == ["serving"]
    assert events[-1]["event"] == "stopped" and events[-1]["syncs_ended"] is True
    assert all({"time", "level", "event"} <= set(e) for e in events)
    assert "do-not-log-me" not in stderr


def test_a_bad_config_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("repositories:\n  - {name: mesh}\nwebhook: {maxBodyBytes: 0}\n")
    result = invoke(["serve", "--config", str(config), "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"meshrc: error: {config}: repositories.0.url: Field required\n"


def test_a_bad_opa_url_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("repositories: []\n")
    args = ["serve", "--config", str(config), "--state-dir", str(tmp_path)]
    result = invoke(args, env={"MESHRC_OPA_URL": "ftp://opa.internal"})
    assert result.exit_code == 2
    assert result.stderr == "meshrc: error: --opa-url 'ftp://opa.internal' is not an http(s) URL\n"
