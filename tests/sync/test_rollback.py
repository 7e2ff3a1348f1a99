"""``meshrc rollback``: a real git revert in a real repository (local, or pushed to a smart
HTTP server on loopback), synced to a local Envoy target; and reverts made by people shown as
rollbacks in the history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pygit2
import pytest
import yaml
from cli.helpers import invoke, no_traceback
from source.conftest import HTTPServed, http_git  # noqa: F401  (the fixture)

from reconciler.errors import UsageError
from reconciler.processes import free_port_offset
from reconciler.rollback import RollbackError, RollbackRequest, rollback
from reconciler.state import SyncRecord, SyncResult, open_store
from reconciler.syncing import SyncOptions, sync
from reconciler.targets.envoy import EnvoyFolder
from reconciler.verify.envoy import EnvoyProcess
from reconciler.verify.upstreams import Upstreams
from sync.test_envoy_target import MESH, SIGNATURE, split

pytestmark = pytest.mark.usefixtures("envoy_binary")


def mesh(v1: int, v2: int) -> str:
    return MESH.replace("WEIGHT_V1", str(v1)).replace("WEIGHT_V2", str(v2))


class Repo:
    """A non-bare repository with an Envoy target; each commit writes the files given."""

    def __init__(self, root: Path, offset: int) -> None:
        self.root = root
        self.repo = pygit2.init_repository(str(root), initial_head="main")
        target = {"name": "local", "type": "envoy", "namespace": "t", "portOffset": offset}
        self.a = self.commit("first", {"meshrc.yaml": yaml.safe_dump({"targets": [target]})})

    def commit(
        self,
        message: str,
        files: dict[str, str] | None = None,
        *,
        weights: tuple[int, int] = (80, 20),
    ) -> str:
        for name, text in {"mesh.yaml": mesh(*weights), **(files or {})}.items():
            (self.root / name).write_text(text)
        self.repo.index.add_all()
        self.repo.index.write()
        tree = self.repo.index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        return str(self.repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents))

    @property
    def head(self) -> pygit2.Commit:
        return self.repo.head.peel(pygit2.Commit)

    def file(self, commit: str, name: str) -> bytes:
        blob = self.repo[commit].peel(pygit2.Commit).tree[name]
        assert isinstance(blob, pygit2.Blob)
        return blob.data


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Repo, Path, Path, int]]:
    """The repository, an endpoints file of stand-ins, the state folder, the port offset."""
    offset = free_port_offset([8080, 8081])
    with Upstreams() as upstreams:
        lines = {
            f"web.t/{s}": [f"127.0.0.1:{upstreams.add('web.t.svc.cluster.local', s).port}"]
            for s in ("v1", "v2")
        }
        endpoints = tmp_path / "endpoints.yaml"
        endpoints.write_text(yaml.safe_dump(lines))
        yield Repo(tmp_path / "repo", offset), endpoints, tmp_path / "state", offset


def quiet(_message: str) -> None:
    pass


def opts(location: str, endpoints: Path, state: Path, **more: object) -> SyncOptions:
    return SyncOptions(location=location, state_dir=state, endpoints=endpoints, **more)  # type: ignore[arg-type]


def record(store: object, commit: str) -> None:
    """An applied sync of ``commit`` to ``local``, as the history would hold it."""
    now = datetime.now(UTC)
    store.record_sync(SyncRecord("local", commit, SyncResult.APPLIED, now, now))  # type: ignore[attr-defined]


def test_steps_1_restores_the_previous_routing_through_envoy(
    env: tuple[Repo, Path, Path, int],
) -> None:
    repo, endpoints, state, offset = env
    folder = EnvoyFolder(state / "envoy" / "local")
    location = str(repo.root)
    with open_store(None, state) as store:
        (first,) = sync(opts(location, endpoints, state), store, quiet)
        assert first.result == SyncResult.APPLIED
        with EnvoyProcess(yaml.safe_load(folder.bootstrap.read_text())) as envoy:
            admin = opts(location, endpoints, state, admin_url=envoy.admin_url)
            bad = repo.commit("all to v1", weights=(100, 0))
            (moved,) = sync(admin, store, quiet)
            assert moved.result == SyncResult.APPLIED
            assert split(8080 + offset) == {"v1": 200}
            done = rollback(
                RollbackRequest("local", steps=1, reason="v2 lost"), admin, store, quiet
            )
            assert done.outcome is not None and done.outcome.result == SyncResult.APPLIED
            assert "confirmed by Envoy" in done.outcome.detail
            traffic = split(8080 + offset)
            assert set(traffic) == {"v1", "v2"} and 15 <= traffic["v2"] <= 70, traffic
        history = store.history("local")
    head = repo.head
    assert str(head.id) == done.revert and [str(p) for p in head.parent_ids] == [bad]
    assert done.to == repo.a and done.reverted == (bad,)
    assert head.message == (
        f"Revert to {repo.a[:7]} on local: v2 lost\n\n"
        f"This reverts commit {bad}.\n\nMeshrc-Rollback: local\n"
    )
    assert head.tree.id == repo.repo[repo.a].peel(pygit2.Commit).tree.id
    assert (repo.root / "mesh.yaml").read_text() == mesh(80, 20)  # the work tree follows
    assert repo.repo.status(untracked_files="no") == {}
    assert head.author.name == head.committer.name
    assert [(r.commit, r.reverts) for r in history] == [
        (done.revert, [bad]), (bad, None), (repo.a, None)
    ]  # fmt: skip
    shown = invoke(["history", "--state-dir", str(state)])
    assert shown.exit_code == 0, shown.stderr
    assert f"rollback of {bad[:7]}; " in shown.stdout.splitlines()[1]


def test_to_two_back_keeps_a_later_unrelated_change(env: tuple[Repo, Path, Path, int]) -> None:
    repo, endpoints, state, _offset = env
    base = ["--state-dir", str(state), "--endpoints", str(endpoints)]
    assert invoke(["sync", str(repo.root), *base]).exit_code == 0
    b = repo.commit("all to v1", weights=(100, 0))
    assert invoke(["sync", str(repo.root), *base]).exit_code == 0
    c = repo.commit("half and half", weights=(50, 50))
    assert invoke(["sync", str(repo.root), *base]).exit_code == 0
    d = repo.commit("notes", {"NOTES.md": "unrelated\n"}, weights=(50, 50))
    result = invoke(
        ["rollback", "--repo", str(repo.root), "--target", "local", "--to", repo.a[:10],
         "--author", "Bo Chen <bo@example.com>", "--reason", "canary broke", "-o", "json", *base]
    )  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 0, result.stdout + result.stderr
    row = json.loads(result.stdout)
    assert row["reverts"] == [c, b] and row["to"] == repo.a and row["result"] == "applied"
    head = repo.head
    assert str(head.id) == row["revert"] and [str(p) for p in head.parent_ids] == [d]
    assert head.author.name == "Bo Chen" and head.committer.email == "bo@example.com"
    assert head.message.splitlines()[0] == f"Revert to {repo.a[:7]} on local: canary broke"
    assert f"This reverts commit {c}.\nThis reverts commit {b}.\n" in head.message
    assert repo.file(row["revert"], "mesh.yaml") == mesh(80, 20).encode()
    assert repo.file(row["revert"], "NOTES.md") == b"unrelated\n"  # kept
    history = json.loads(invoke(["history", "--state-dir", str(state), "-o", "json"]).stdout)
    assert history[0]["commit"] == row["revert"] and history[0]["reverts"] == [c, b]
    assert history[0]["message"] == f"Revert to {repo.a[:7]} on local: canary broke"


def test_a_conflicting_revert_is_refused_and_creates_nothing(
    env: tuple[Repo, Path, Path, int],
) -> None:
    repo, endpoints, state, _offset = env
    b = repo.commit("all to v1", weights=(100, 0))
    repo.commit("then 90/10", weights=(90, 10))  # not synced: kept, and it touches b's lines
    before = repo.head.id
    with open_store(None, state) as store:
        record(store, repo.a)
        record(store, b)
        with pytest.raises(RollbackError) as refused:
            rollback(RollbackRequest("local"), opts(str(repo.root), endpoints, state), store, quiet)
        assert len(store.history("local")) == 2
    assert str(refused.value).startswith(f"reverting {b[:7]} (all to v1) conflicts in mesh.yaml:")
    assert "nothing was committed" in str(refused.value)
    assert repo.head.id == before and list(repo.repo.references) == ["refs/heads/main"]
    assert repo.repo.status(untracked_files="no") == {}
    result = invoke(["rollback", "--repo", str(repo.root), "--target", "local",
                     "--state-dir", str(state), "--steps", "1"])  # fmt: skip
    assert result.exit_code == 2 and "conflicts in mesh.yaml" in result.stderr


def test_refusals(env: tuple[Repo, Path, Path, int]) -> None:
    repo, endpoints, state, _offset = env
    b = repo.commit("all to v1", weights=(100, 0))
    options = opts(str(repo.root), endpoints, state)
    with open_store(None, state) as store:
        record(store, repo.a)
        with pytest.raises(RollbackError, match="0 applied commit"):
            rollback(RollbackRequest("local", steps=1), options, store, quiet)
        record(store, b)
        (repo.root / "mesh.yaml").write_text("edited\n")
        with pytest.raises(RollbackError, match=r"uncommitted changes \(mesh.yaml\)"):
            rollback(RollbackRequest("local", steps=1), options, store, quiet)
        remote = opts("https://git.example.invalid/mesh.git", endpoints, state)
        with pytest.raises(UsageError, match="without --push"):
            rollback(RollbackRequest("local", steps=1), remote, store, quiet)
    assert str(repo.head.id) == b


def test_push_to_a_remote_over_smart_http(
    env: tuple[Repo, Path, Path, int],
    http_git: HTTPServed,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, endpoints, state, _offset = env
    b = repo.commit("all to v1", weights=(100, 0))
    served = pygit2.clone_repository(str(repo.root), str(http_git.root / "mesh.git"), bare=True)
    monkeypatch.setenv("MESHRC_GIT_TOKEN", http_git.token)
    monkeypatch.setenv("MESHRC_CACHE_DIR", str(tmp_path / "cache"))
    url = http_git.url("mesh.git")
    base = ["--state-dir", str(state), "--endpoints", str(endpoints)]
    for ref in (repo.a, b):
        assert invoke(["sync", "--repo", url, "--ref", ref, *base]).exit_code == 0
    unpushed = invoke(["rollback", "--repo", url, "--target", "local", *base])
    assert unpushed.exit_code == 2 and "add --push" in unpushed.stderr
    result = invoke(["rollback", "--repo", url, "--target", "local", "--push", "--reason", "x",
                     "--branch", "main", *base])  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert http_git.token not in result.stdout + result.stderr
    assert "(pushed)" in result.stdout and "applied" in result.stdout.splitlines()[-1]
    head = served.references["refs/heads/main"].peel(pygit2.Commit)
    assert [str(p) for p in head.parent_ids] == [b]
    assert head.message.startswith(
        f"Revert to {repo.a[:7]} on local: x\n\nThis reverts commit {b}."
    )
    assert head.tree.id == served[repo.a].peel(pygit2.Commit).tree.id
    assert any(method == "POST" and "receive-pack" in path for method, path, _ in http_git.requests)
    with open_store(None, state) as store:
        (last, *_rest) = store.history("local")
    assert last.commit == str(head.id) and last.reverts == [b] and last.result == "applied"


def test_a_revert_made_by_a_person_shows_as_a_rollback(env: tuple[Repo, Path, Path, int]) -> None:
    repo, endpoints, state, _offset = env
    base = ["--state-dir", str(state), "--endpoints", str(endpoints)]
    assert invoke(["sync", str(repo.root), *base]).exit_code == 0
    b = repo.commit("all to v1", weights=(100, 0))
    assert invoke(["sync", str(repo.root), *base]).exit_code == 0
    index = repo.repo.revert_commit(repo.repo[b].peel(pygit2.Commit), repo.head)
    tree = index.write_tree(repo.repo)
    message = f'Revert "all to v1"\n\nThis reverts commit {b}.\n'
    revert = repo.repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, [repo.head.id])
    assert invoke(["sync", str(repo.root), *base]).exit_code == 0
    rows = json.loads(invoke(["history", *base[:2], "-o", "json"]).stdout)
    assert [(r["commit"], r["reverts"]) for r in rows] == [
        (str(revert), [b]), (b, None), (repo.a, None)
    ]  # fmt: skip
    assert rows[0]["message"] == 'Revert "all to v1"'
    table = invoke(["history", *base[:2]]).stdout.splitlines()
    assert "rollback of " + b[:7] in table[1] and "rollback" not in table[2]
