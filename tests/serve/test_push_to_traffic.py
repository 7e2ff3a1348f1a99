"""End to end: a commit, its signed GitHub push webhook, the sync it schedules, and a real
Envoy that follows the new rule; the latency from the POST to the first request served by
the new rule is measured and printed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from sync.test_envoy_target import Repository, options, setup

from reconciler.serve.config import Repository as Followed
from reconciler.serve.config import ServeConfig
from reconciler.state import SyncResult, open_store
from reconciler.syncing import sync
from reconciler.verify.client import send_many
from reconciler.verify.envoy import EnvoyProcess
from serve.helpers import SECRET, running, signed

__all__ = ["setup"]

pytestmark = pytest.mark.usefixtures("envoy_binary")


def test_a_push_reaches_the_envoy(
    setup: tuple[Repository, Path, Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, endpoints, state, offset = setup
    monkeypatch.setenv("MESHRC_WEBHOOK_SECRET", SECRET)
    port = 8080 + offset
    repo.commit(0, 100, "all to v2")
    with open_store(None, state) as store:
        (first,) = sync(options(repo, endpoints, state), store, lambda _m: None)
        assert first.result == SyncResult.APPLIED
        bootstrap = yaml.safe_load((state / "envoy" / "local" / "bootstrap.yaml").read_text())
        with EnvoyProcess(bootstrap) as envoy:
            assert {r.upstream for r in send_many(port, 20, 2, authority="web.t")} == {
                "web.t.svc.cluster.local/v2"
            }
            followed = Followed(
                name="mesh", url=str(repo.root), branch="main", endpoints=endpoints,
                envoyAdmin=envoy.admin_url,
            )  # fmt: skip
            with running(ServeConfig(repositories=(followed,)), store, state) as app:
                commit = repo.commit(100, 0, "all to v1")
                body = (
                    b'{"ref": "refs/heads/main", "after": "' + commit.encode() + b'", '
                    b'"repository": {"name": "mesh", "full_name": "team/mesh"}}'
                )
                posted = time.monotonic()
                status, answer = app.post("/webhooks/github", body, signed("github", body, "e2e"))
                assert (status, answer["result"]) == (202, "accepted")
                while True:
                    (response,) = send_many(port, 1, authority="web.t")
                    if response.upstream == "web.t.svc.cluster.local/v1":
                        break
                    assert time.monotonic() - posted < 60, "the new rule never served"
                    time.sleep(0.01)
                latency = time.monotonic() - posted
                print(f"\npush-to-traffic latency: {latency * 1000:.0f} ms")
                assert {r.upstream for r in send_many(port, 50, 4, authority="web.t")} == {
                    "web.t.svc.cluster.local/v1"
                }
                while app.scheduler.syncs < 1:
                    time.sleep(0.02)
                assert app.metric("meshrc_sync_total", target="local", result="applied") == 1
                assert app.metric("meshrc_last_applied_timestamp", target="local") > 0
                assert app.metric("meshrc_git_fetch_duration_seconds_count") == 1
        (latest, *_rest) = store.history(target="local")
    assert latest.commit == commit and latest.result == SyncResult.APPLIED
    assert latest.message == "all to v1"
