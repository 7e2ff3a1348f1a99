"""The status page of ``meshrc serve`` in a real headless Chromium, after real syncs: commits
pushed (signed webhooks) and synced by the scheduler to an Envoy folder target, a drift found by
``meshrc drift``'s code, a ``meshrc rollback`` revert; and the routing diff each applied sync
records. ``/api/status`` is checked against the same page."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2
import pytest
from cli.helpers import invoke
from selenium.webdriver.common.by import By
from sync.test_envoy_target import MESH, SIGNATURE, Repository, options, setup

from reconciler.drift import DriftOptions, detect
from reconciler.rollback import RollbackRequest, rollback
from reconciler.serve.config import Repository as Followed
from reconciler.serve.config import ServeConfig
from reconciler.serve.status_page import StatusRecords, render_page, status_view
from reconciler.snapshots import opened_source
from reconciler.source.trees import CommitTree
from reconciler.state import StateStore, SyncRecord, SyncResult, open_store
from reconciler.sync_diffs import MAX_CHANGES, routing_diff
from reconciler.syncing import sync
from serve.helpers import SECRET, Running, push_body, running, signed

__all__ = ["setup"]

HOSTILE = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> half to v2'


def quiet(_message: str) -> None:
    pass


def pushed(app: Running, store: StateStore, commit: str) -> None:
    """Announce a push by a signed webhook and wait until the scheduler has synced ``commit``."""
    body = push_body("generic", "mesh")
    status, answer = app.post("/webhooks/generic", body, signed("generic", body, commit))
    assert (status, answer["result"]) == (202, "accepted")
    for _ in range(1500):
        if any(r.commit == commit for r in store.history("local", 5)) and app.scheduler.idle():
            return
        app.scheduler.stopping.wait(0.02)
    raise AssertionError(f"{commit[:12]} was never synced")


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.mark.usefixtures("envoy_binary")
def test_the_status_page_in_chromium_after_real_syncs_a_drift_and_a_rollback(
    setup: tuple[Repository, Path, Path, int],
    chromium: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    repo, endpoints, state, _offset = setup
    monkeypatch.setenv("MESHRC_WEBHOOK_SECRET", SECRET)
    followed = Followed(name="mesh", url=str(repo.root), branch="main", endpoints=endpoints)
    with (
        open_store(None, state) as store,
        running(ServeConfig(repositories=(followed,)), store, state) as app,
    ):
        first = repo.commit(100, 0, "all to v1")
        pushed(app, store, first)
        canary = repo.commit(90, 10, "canary: v2 at 10%")
        pushed(app, store, canary)
        lds = state / "envoy" / "local" / "lds.yaml"
        lds.write_text(lds.read_text() + "\n# edited by hand\n")
        (checked,) = detect(DriftOptions(str(repo.root), state), store, quiet)
        assert [d.kind for d in checked.drifts] == ["files"]
        (drifted,) = json.loads(fetch(app.url + "/api/status")[2])["targets"]
        assert (drifted["health"], drifted["drifts"]) == ("ok", 1)
        request = RollbackRequest("local", steps=1, reason="v2 <b>errors</b>")
        back = rollback(request, options(repo, endpoints, state), store, quiet)
        assert back.outcome is not None and back.outcome.result == SyncResult.APPLIED
        second = repo.commit(50, 50, HOSTILE)
        pushed(app, store, second)

        chromium.get(app.url + "/")
        assert chromium.title == "meshrc status"
        (row,) = chromium.find_elements(By.CSS_SELECTOR, "tr.target")
        assert row.get_attribute("data-target") == "local"
        assert row.find_element(By.CSS_SELECTOR, ".health").text == "ok"
        runs = row.find_element(By.CSS_SELECTOR, ".commit")
        assert runs.find_element(By.CSS_SELECTOR, ".sha").text == second[:12]
        assert runs.find_element(By.CSS_SELECTOR, ".subject").text == HOSTILE  # text, not markup
        assert "Ada" in runs.text
        assert row.find_element(By.CSS_SELECTOR, ".drifts").text == "0"  # synced since

        syncs = chromium.find_elements(By.CSS_SELECTOR, "li.sync")
        assert [s.get_attribute("data-commit") for s in syncs] == [
            second, back.revert, canary, first
        ]  # fmt: skip
        assert all(s.get_attribute("data-result") == "applied" for s in syncs)
        latest = syncs[0]
        diff = latest.find_element(By.CSS_SELECTOR, "details.routing-diff")
        assert diff.get_attribute("open") is None
        summary = diff.find_element(By.TAG_NAME, "summary")
        assert summary.text == f"1 routing change from {back.revert[:12]}"
        summary.click()
        assert diff.find_element(By.CSS_SELECTOR, ".diff").text.splitlines() == [
            "web.t.svc.cluster.local",
            "VirtualService t/web",
            "v1 100% -> 50%, v2 0% -> 50% weights",
        ]
        oldest = syncs[-1].find_element(By.CSS_SELECTOR, "details.routing-diff summary")
        assert oldest.text.endswith("from an empty mesh (first sync)")

        (drift,) = chromium.find_elements(By.CSS_SELECTOR, "tr.drift")
        assert drift.find_element(By.CSS_SELECTOR, ".kind").text == "files"
        assert drift.find_element(By.CSS_SELECTOR, ".object").text.endswith("/lds.yaml")
        assert drift.find_element(By.CSS_SELECTOR, ".fields").text == "edited"
        assert drift.find_element(By.CSS_SELECTOR, ".healed").text == "no"

        (undone,) = chromium.find_elements(By.CSS_SELECTOR, "li.rollback")
        what = undone.find_element(By.CSS_SELECTOR, ".what").text
        assert what == f"rollback of {canary[:12]} by {back.revert[:12]}"
        reason = undone.find_element(By.CSS_SELECTOR, ".reason").text
        assert reason == f"Revert to {first[:7]} on local: v2 <b>errors</b>"

        assert chromium.execute_script("return window.__pwned") is None
        assert chromium.find_elements(By.CSS_SELECTOR, "img, script") == []
        loaded = chromium.execute_script(
            "return performance.getEntriesByType('navigation').concat("
            "performance.getEntriesByType('resource')).map(e => e.name)"
        )
        assert loaded and all(name.startswith(app.url + "/") for name in loaded), loaded
        assert chromium.save_screenshot(str(tmp_path / "status.png"))

        chromium.get(app.url + "/?target=nowhere")
        assert "No target named nowhere in the history." in chromium.page_source

        status, headers, body = fetch(app.url + "/api/status")
        assert status == 200 and headers["content-type"] == "application/json"
        data = json.loads(body)
        assert list(data) == ["target", "targets", "syncs", "drifts", "rollbacks"]
        (target,) = data["targets"]
        assert (target["name"], target["health"], target["commit"]["id"]) == (
            "local", "ok", second
        )  # fmt: skip
        assert target["commit"]["subject"] == HOSTILE and target["drifts"] == 0
        assert [s["commit"] for s in data["syncs"]] == [second, back.revert, canary, first]
        (host,) = data["syncs"][0]["routing_diff"]["hosts"]
        (change,) = host["resources"][0]["changes"]
        assert (change["kind"], change["before"], change["after"]) == (
            "weights", {"v1": 100.0, "v2": 0.0}, {"v1": 50.0, "v2": 50.0}
        )  # fmt: skip
        assert data["syncs"][-1]["routing_diff"]["base"] is None
        assert [(d["kind"], d["healed"]) for d in data["drifts"]] == [("files", False)]
        (undone_json,) = data["rollbacks"]
        assert (undone_json["of"], undone_json["by"]) == ([canary], back.revert)
        assert data["syncs"][0]["finished"].endswith("Z")

        filtered = json.loads(fetch(app.url + "/api/status?target=local")[2])
        assert filtered["target"] == "local" and filtered["syncs"] == data["syncs"]
        assert fetch(app.url + "/api/status?target=nowhere")[0] == 404

        status, headers, _body = fetch(app.url + "/", "POST")
        assert status == 405 and "GET" in headers["allow"]
        assert fetch(app.url + "/api/status", "POST")[0] == 405
        status, headers, body = fetch(app.url + "/", "HEAD")
        assert status == 200 and body == b""
        assert "default-src 'none'" in headers["content-security-policy"]

    history = json.loads(invoke(["history", "--state-dir", str(state), "-o", "json"]).stdout)
    assert history[0]["routing_diff"]["base"] == back.revert
    assert history[0]["routing_diff"]["hosts"][0]["changes"][0]["summary"] == (
        "v1 100% -> 50%, v2 0% -> 50%"
    )


@pytest.mark.usefixtures("envoy_binary")
def test_a_routing_diff_that_cannot_be_made_never_fails_the_sync(
    setup: tuple[Repository, Path, Path, int], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The folder runs a commit of another repository: it cannot be read here, so no diff."""
    repo, endpoints, state, offset = setup
    other = Repository(tmp_path / "other", offset)
    other.commit(100, 0, "all to v1")  # content of its own: not a no-op here
    with open_store(None, state) as store:
        (elsewhere,) = sync(options(other, endpoints, state), store, quiet)
        assert elsewhere.result == SyncResult.APPLIED
        (here,) = sync(options(repo, endpoints, state), store, quiet)
        assert here.result == SyncResult.APPLIED
        latest, before = store.history("local")
    assert latest.routing_diff is None
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "reconciler.sync_diffs"]
    assert warning.startswith(f"no routing diff recorded for {here.commit[:12]} (from ")
    assert before.routing_diff is not None and before.routing_diff["base"] is None


def test_a_large_routing_diff_is_stored_capped_and_the_page_says_how_many_more(
    tmp_path: Path,
) -> None:
    """A first sync of 150 services, each a host with a route: more changes than are kept."""
    root = tmp_path / "repo"
    root.mkdir()
    mesh = MESH.replace("WEIGHT_V1", "80").replace("WEIGHT_V2", "20")
    (root / "mesh.yaml").write_text(
        "---\n".join(mesh.replace("web", f"web{i}") for i in range(150))
    )
    (root / "meshrc.yaml").write_text("paths: [.]\n")
    repo = pygit2.init_repository(str(root), initial_head="main")
    repo.index.add_all()
    tree = repo.index.write_tree()
    commit = str(repo.create_commit("HEAD", SIGNATURE, SIGNATURE, "m", tree, []))
    with opened_source(str(root), None) as source:
        stored = routing_diff(CommitTree(source, commit), None, None, "t", tmp_path)
    assert stored is not None and stored["base"] is None and stored["changes"] > MAX_CHANGES
    assert sum(len(host["changes"]) for host in stored["hosts"]) == MAX_CHANGES
    now = datetime.now(UTC)
    record = SyncRecord("t", commit, SyncResult.APPLIED, now, now, routing_diff=stored)
    view = status_view(StatusRecords([], [record], [], []))
    more = stored["changes"] - MAX_CHANGES
    assert view["syncs"][0]["routing_diff"]["not_shown"] == more
    assert f"...and {more} more; <code>meshrc diff</code> lists them all." in render_page(view)
