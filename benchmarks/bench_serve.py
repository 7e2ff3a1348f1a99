"""Push to traffic: how long from a git push's webhook to the first request a real Envoy
serves with the new rule, through a real ``meshrc serve`` process.

A Git repository with one Envoy target (the mesh of a service ``web`` with subsets v1 and v2,
loopback stand-ins for both) is synced once and a real Envoy started on the target's folder;
then ``meshrc serve`` (a child process, default settings: a 0.5 s debounce) follows the
repository. Each round commits a flip of the route (all to v1, then all to v2, ...), POSTs the
signed GitHub push webhook, and sends one request at a time until the new subset answers:
the time from the POST to that answer is the round's latency. The goal is < 2 s (Argo CD
polls every 3 minutes by default, Flux every minute).

    python benchmarks/bench_serve.py [--rounds 10]

Prints the rounds, a summary, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from serve.helpers import SECRET, signed  # noqa: E402
from sync.test_envoy_target import Repository  # noqa: E402

from reconciler.processes import free_port, free_port_offset, stop_process  # noqa: E402
from reconciler.state import open_store  # noqa: E402
from reconciler.syncing import SyncOptions, sync  # noqa: E402
from reconciler.verify.client import send  # noqa: E402
from reconciler.verify.envoy import EnvoyProcess  # noqa: E402
from reconciler.verify.upstreams import Upstreams  # noqa: E402

HOST = "web.t.svc.cluster.local"


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"meshrc serve at {url} was not ready within {timeout:g} s")
        time.sleep(0.1)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="meshrc-bench-serve-") as tmp, Upstreams() as stand_ins:
        root = Path(tmp)
        offset = free_port_offset([8080, 8081])
        repo = Repository(root / "repo", offset)
        endpoints = root / "endpoints.yaml"
        lines = {f"web.t/{s}": [f"127.0.0.1:{stand_ins.add(HOST, s).port}"] for s in ("v1", "v2")}
        endpoints.write_text(yaml.safe_dump(lines))
        state = root / "state"
        repo.commit(0, 100, "all to v2")
        with open_store(None, state) as store:
            sync(
                SyncOptions(location=str(repo.root), state_dir=state, endpoints=endpoints),
                store,
                lambda _m: None,
            )
        bootstrap = yaml.safe_load((state / "envoy" / "local" / "bootstrap.yaml").read_text())
        with EnvoyProcess(bootstrap) as envoy:
            config = root / "serve.yaml"
            followed = {
                "name": "mesh",
                "url": str(repo.root),
                "endpoints": str(endpoints),
                "envoyAdmin": envoy.admin_url,
            }
            config.write_text(yaml.safe_dump({"repositories": [followed]}))
            port = free_port()
            env = {
                **os.environ,
                "MESHRC_WEBHOOK_SECRET": SECRET,
                "MESHRC_CACHE_DIR": str(root / "cache"),
            }
            meshrc = [sys.executable, "-c", "from reconciler.cli.main import main; main()"]
            command = [*meshrc, "serve", "--config", str(config), "--port", str(port)]
            command += ["--state-dir", str(state)]
            server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"
            latencies = []
            try:
                wait_ready(url)
                for number in range(args.rounds):
                    subset = "v1" if number % 2 == 0 else "v2"
                    commit = repo.commit(
                        100 if subset == "v1" else 0,
                        0 if subset == "v1" else 100,
                        f"all to {subset}",
                    )
                    body = json.dumps(
                        {"ref": "refs/heads/main", "after": commit, "repository": {"name": "mesh"}}
                    ).encode()
                    posted = time.monotonic()
                    assert (
                        post(
                            f"{url}/webhooks/github",
                            body,
                            signed("github", body, f"bench-{number}"),
                        )
                        == 202
                    )
                    while send(8080 + offset, authority="web.t").upstream != f"{HOST}/{subset}":
                        if time.monotonic() - posted > 60:
                            raise SystemExit(
                                f"round {number}: the new rule was not served within 60 s"
                            )
                        time.sleep(0.005)
                    latencies.append(time.monotonic() - posted)
                    took = latencies[-1] * 1000
                    print(f"round {number + 1}: {subset} served {took:.0f} ms after the push")
            finally:
                stop_process(server)
    ordered = sorted(latencies)
    record = {
        "benchmark": "meshrc-serve-push-to-traffic",
        "python": platform.python_version(),
        "rounds": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000),
        "p90_ms": round(ordered[max(0, int(0.9 * len(ordered)) - 1)] * 1000),
        "max_ms": round(ordered[-1] * 1000),
    }
    median, p90, most = record["median_ms"], record["p90_ms"], record["max_ms"]
    print(f"push to traffic: median {median} ms, p90 {p90} ms, max {most} ms (goal < 2000 ms)")
    print(json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
