"""``meshrc sync --auto-revert`` (and serve's ``autoRevert``): a commit a real Envoy rejects
(its new listener's port is taken) is rolled back, and a revert commit is pushed to a smart
HTTP server on loopback; the next sync of that revert is a no-op. The same for a real API
server whose apply fails part-way."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from cli.helpers import invoke, no_traceback
from serve.helpers import running
from source.conftest import HTTPServed, http_git  # noqa: F401  (the fixture)

from reconciler.errors import UsageError
from reconciler.rollback import auto_revert
from reconciler.serve.config import Repository as Followed
from reconciler.serve.config import ServeConfig, load_config
from reconciler.state import SyncResult, open_store
from reconciler.syncing import SyncOptions, sync
from reconciler.targets.envoy import EnvoyFolder
from reconciler.targets.kubernetes import ObjectRef
from reconciler.verify.envoy import EnvoyProcess
from sync.test_envoy_target import EXTRA_PORT, Repository, options, setup
from sync.test_kubernetes_target import (
    MeshRepo,
    destination_rule,
    mesh,
    repo,
    run,
    take_http,
    virtual_service,
)

__all__ = ["repo", "setup"]

envoy = pytest.mark.usefixtures("envoy_binary")

Setup = tuple[Repository, Path, Path, int]


def quiet(_message: str) -> None:
    pass


@contextmanager
def rejecting_envoy(state: Path, offset: int) -> Iterator[str]:
    """A real Envoy on the target's folder, its admin URL; the port the admin Service of
    ``EXTRA_PORT`` needs is taken, so a commit adding it is rejected."""
    bootstrap = yaml.safe_load((EnvoyFolder(state / "envoy" / "local").bootstrap).read_text())
    with EnvoyProcess(bootstrap) as envoy, socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 8081 + offset))
        squatter.listen()
        yield envoy.admin_url


class Served:
    """The repository's bare copy behind the smart HTTP server; commits reach it by push."""

    def __init__(self, repo: Repository, http: HTTPServed, monkeypatch: pytest.MonkeyPatch) -> None:
        self.local = repo
        self.path = http.root / "mesh.git"
        self.bare = pygit2.clone_repository(str(repo.root), str(self.path), bare=True)
        self.url = http.url("mesh.git")
        self.token = http.token
        monkeypatch.setenv("MESHRC_GIT_TOKEN", http.token)

    def publish(self, v1: int, v2: int, message: str, extra: str = "") -> str:
        commit = self.local.commit(v1, v2, message, extra)
        remote = self.local.repo.remotes.create_anonymous(str(self.path))
        remote.push(["refs/heads/main:refs/heads/main"])
        return commit

    @property
    def head(self) -> pygit2.Commit:
        return self.bare.references["refs/heads/main"].peel(pygit2.Commit)

    def tree(self, commit: str) -> pygit2.Oid:
        return self.bare[commit].peel(pygit2.Commit).tree.id


@pytest.fixture
def served(
    setup: Setup,
    http_git: HTTPServed,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Served:
    monkeypatch.setenv("MESHRC_CACHE_DIR", str(tmp_path / "cache"))
    return Served(setup[0], http_git, monkeypatch)


@envoy
def test_a_rejected_commit_is_reverted_and_pushed(setup: Setup, served: Served) -> None:
    repo, endpoints, state, offset = setup
    a = str(repo.repo.head.target)
    base = ["--repo", served.url, "--ref", "main", "--state-dir", str(state),
            "--endpoints", str(endpoints)]  # fmt: skip
    assert invoke(["sync", *base]).exit_code == 0
    with rejecting_envoy(state, offset) as admin:
        b = served.publish(80, 20, "add the admin service", EXTRA_PORT)
        result = invoke(["sync", *base, "--envoy-admin", admin, "--auto-revert", "-o", "json"])
        no_traceback(result)
        assert result.exit_code == 2, result.stdout + result.stderr
        (row,) = json.loads(result.stdout)
        again = invoke(["sync", *base, "--envoy-admin", admin])
    assert served.token not in result.stdout + result.stderr
    assert row["result"] == "rolled-back" and row["commit"] == b
    head = served.head
    revert = str(head.id)
    assert row["revert"] == {
        "commit": revert,
        "reverts": [b],
        "pushed": True,
        "detail": f"revert {revert[:12]} of {b[:7]} pushed to {served.url} main",
    }
    assert [str(p) for p in head.parent_ids] == [b] and head.tree.id == served.tree(a)
    assert head.message == (
        f"Revert to {a[:7]} on local: auto-revert: Envoy rejected the new LDS\n\n"
        f"local: applying {b[:12]} failed: Envoy rejected the new LDS\n\n"
        f"This reverts commit {b}.\n\nMeshrc-Rollback: local\n"
    )
    assert again.exit_code == 0, again.stdout + again.stderr
    assert again.stdout.startswith(f"local: {revert[:12]} up to date")
    with open_store(None, state) as store:
        (rollback,) = store.rollbacks("local")
        history = store.history("local")
    assert (rollback.from_commit, rollback.to_commit) == (b, a)
    assert rollback.reason == f"Envoy rejected the new LDS; auto-revert: {row['revert']['detail']}"
    assert [(r.commit, r.result, r.reverts) for r in history] == [
        (revert, SyncResult.NO_OP, [b]),
        (b, SyncResult.ROLLED_BACK, None),
        (a, SyncResult.APPLIED, None),
    ]
    table = invoke(["history", "--state-dir", str(state)]).stdout.splitlines()
    assert revert[:12] in table[1] and f"rollback of {b[:7]}" in table[1]


@envoy
def test_a_branch_that_moved_on_is_not_reverted(setup: Setup, served: Served) -> None:
    """Without --auto-revert nothing is committed; the revert of a commit the branch has
    moved past (D pushed after B was fetched) is refused, and nothing is pushed."""
    _repo, endpoints, state, offset = setup
    plain = SyncOptions(
        location=served.url, state_dir=state, ref="main", endpoints=endpoints,
        cache_dir=state / "cache",
    )  # fmt: skip
    with open_store(None, state) as store:
        sync(plain, store, quiet)
        with rejecting_envoy(state, offset) as admin:
            b = served.publish(80, 20, "add the admin service", EXTRA_PORT)
            (outcome,) = sync(replace(plain, admin_url=admin), store, quiet)
        assert outcome.result is SyncResult.ROLLED_BACK and outcome.revert is None
        assert str(served.head.id) == b  # nothing committed without --auto-revert
        d = served.publish(50, 50, "half and half", EXTRA_PORT)
        wanting = replace(plain, auto_revert=True)
        (refused,) = auto_revert(wanting, [outcome], store, quiet)
        (rollback,) = store.rollbacks("local")
    assert refused.result is SyncResult.ROLLED_BACK and refused.revert is not None
    assert refused.revert.commit is None and not refused.revert.pushed
    assert refused.revert.detail == (
        f"not reverting: branch moved on; main is at {d[:7]}, not at {b[:12]} that failed: "
        "reverting it now would also undo commits no target has tried (nothing was committed)"
    )
    assert str(served.head.id) == d
    assert rollback.reason == f"Envoy rejected the new LDS; auto-revert: {refused.revert.detail}"


@envoy
def test_a_local_repository_gets_the_revert_on_its_branch(setup: Setup) -> None:
    """No remote: the revert goes on the checked-out branch, the work tree follows; the
    author is --revert-author's. A commit synced by id names no branch: not reverted."""
    repo, endpoints, state, offset = setup
    a = str(repo.repo.head.target)
    base = [str(repo.root), "--state-dir", str(state), "--endpoints", str(endpoints)]
    assert invoke(["sync", *base]).exit_code == 0
    with rejecting_envoy(state, offset) as admin:
        b = repo.commit(80, 20, "add the admin service", EXTRA_PORT)
        by_id = invoke(["sync", *base, "--ref", b, "--envoy-admin", admin, "--auto-revert"])
        assert by_id.exit_code == 2 and str(repo.repo.head.target) == b
        result = invoke(["sync", *base, "--envoy-admin", admin, "--auto-revert",
                         "--revert-author", "Bo Chen <bo@example.com>"])  # fmt: skip
    no_traceback(result)
    assert by_id.stdout.splitlines()[-1] == (
        f"auto-revert: not reverting: the synced ref '{b}' is not a branch of {repo.root}: "
        "a revert needs a branch to go on (sync --ref BRANCH)"
    )
    head = repo.repo.head.peel(pygit2.Commit)
    assert result.exit_code == 2 and result.stdout.splitlines()[-1] == (
        f"auto-revert: revert {str(head.id)[:12]} of {b[:7]} on main"
    )
    assert (head.author.name, head.committer.email) == ("Bo Chen", "bo@example.com")
    assert head.tree.id == repo.repo[a].peel(pygit2.Commit).tree.id
    assert "admin" not in (repo.root / "mesh.yaml").read_text()  # the work tree follows
    assert repo.repo.status(untracked_files="no") == {}


def test_bad_revert_options_are_usage_errors(setup: Setup, tmp_path: Path) -> None:
    repo, _endpoints, state, _offset = setup
    base = ["sync", str(repo.root), "--state-dir", str(state)]
    lonely = invoke([*base, "--revert-author", "Bo <bo@example.com>"])
    assert lonely.exit_code == 2 and "--revert-author needs --auto-revert" in lonely.stderr
    bad = invoke([*base, "--auto-revert", "--revert-author", "bo@example.com"])
    no_traceback(bad)
    assert bad.exit_code == 2
    assert "--revert-author must be 'Name <email>', not 'bo@example.com'" in bad.stderr
    config = tmp_path / "serve.yaml"
    config.write_text("repositories: [{name: m, url: ., autoRevert: true, revertAuthor: bo}]\n")
    with pytest.raises(UsageError, match=r"repositories\.0\.revertAuthor: .*'Name <email>'"):
        load_config(config)


@envoy
def test_serve_pushes_the_revert_and_counts_it(
    setup: Setup, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, endpoints, state, offset = setup
    a = str(repo.repo.head.target)
    with open_store(None, state) as store:
        (first,) = sync(options(repo, endpoints, state), store, quiet)
        assert first.result is SyncResult.APPLIED
        with rejecting_envoy(state, offset) as admin:
            followed = Followed(
                name="mesh", url=served.url, branch="main", endpoints=endpoints,
                envoyAdmin=admin, autoRevert=True,
            )  # fmt: skip
            with running(ServeConfig(repositories=(followed,)), store, state) as app:
                b = served.publish(80, 20, "add the admin service", EXTRA_PORT)
                app.scheduler.request(followed)
                wait_for_syncs(app.scheduler, 1)
                reverted = app.metric("meshrc_rollback_total", target="local", reason="auto-revert")
                failed = app.metric("meshrc_rollback_total", target="local", reason="apply-failed")
                app.scheduler.request(followed)
                wait_for_syncs(app.scheduler, 2)
                no_op = app.metric("meshrc_sync_total", target="local", result="no-op")
        history = store.history("local")
    assert (reverted, failed, no_op) == (1.0, 0.0, 1.0)
    head = served.head
    assert [str(p) for p in head.parent_ids] == [b] and head.tree.id == served.tree(a)
    assert [(r.commit, r.result) for r in history[:2]] == [
        (str(head.id), SyncResult.NO_OP),
        (b, SyncResult.ROLLED_BACK),
    ]


def wait_for_syncs(scheduler: object, count: int) -> None:
    deadline = time.monotonic() + 120
    while scheduler.syncs < count or not scheduler.idle():  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the sync never ended"
        time.sleep(0.05)


def test_a_kubernetes_apply_that_fails_part_way_is_reverted(
    repo: MeshRepo,
    tmp_path: Path,
    kube_api: Any,
    kube_namespace: str,
) -> None:
    """Another field manager takes the routes between two writes: the sync puts back what it
    changed, and the commit goes back in Git too; its revert then changes nothing."""
    good = repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))
    state = tmp_path / "state"
    run(repo, state)
    bad = repo.commit(mesh(destination_rule("v2", "v3"), virtual_service("web", "v3")), "to v3")

    def edit_first(_action: str, ref: ObjectRef) -> None:
        if ref.kind == "VirtualService":
            take_http(kube_api, kube_namespace, "on-call")

    (outcome,) = run(repo, state, before_write=edit_first, auto_revert=True)
    head = repo.repo.head.peel(pygit2.Commit)
    assert outcome.result is SyncResult.ROLLED_BACK, outcome.detail
    assert outcome.revert is not None and outcome.revert.commit == str(head.id)
    assert [str(p) for p in head.parent_ids] == [bad]
    assert head.tree.id == repo.repo[good].peel(pygit2.Commit).tree.id
    assert head.message.startswith(
        f"Revert to {good[:7]} on prod: auto-revert: VirtualService {kube_namespace}/web"
    )
    (again,) = run(repo, state)
    assert again.result is SyncResult.NO_OP and again.commit == str(head.id)
