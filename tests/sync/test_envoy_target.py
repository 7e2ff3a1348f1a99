"""``meshrc sync`` to a local Envoy target: a real Git repository, a real Envoy reading the
folder, a real history store; what the history says is what the Envoy does."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest
import yaml
from cli.helpers import invoke, no_traceback

from reconciler.processes import free_port_offset
from reconciler.state import SyncResult, open_store
from reconciler.syncing import SyncOptions, sync
from reconciler.targets.envoy import EnvoyFolder
from reconciler.verify.client import send_many
from reconciler.verify.envoy import EnvoyProcess
from reconciler.verify.upstreams import Upstreams

pytestmark = pytest.mark.usefixtures("envoy_binary")

SIGNATURE = pygit2.Signature("Ada", "ada@example.com")
MESH = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: t}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: t}
spec:
  host: web
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: t}
spec:
  hosts: [web]
  http:
    - route:
        - {destination: {host: web, subset: v1}, weight: WEIGHT_V1}
        - {destination: {host: web, subset: v2}, weight: WEIGHT_V2}
      timeout: 5s
"""
EXTRA_PORT = """---
apiVersion: v1
kind: Service
metadata: {name: admin, namespace: t}
spec:
  selector: {app: admin}
  ports: [{name: http, port: 8081}]
"""


class Repository:
    """A Git repository with a mesh and an Envoy target; commits change the weights."""

    def __init__(self, root: Path, offset: int) -> None:
        self.root = root
        self.repo = pygit2.init_repository(str(root), initial_head="main")
        target = {"name": "local", "type": "envoy", "namespace": "t", "portOffset": offset}
        (root / "meshrc.yaml").write_text(yaml.safe_dump({"targets": [target]}))
        (root / "endpoints.yaml").write_text("")
        self.commit(80, 20, "first")

    def commit(self, v1: int, v2: int, message: str, extra: str = "") -> str:
        text = MESH.replace("WEIGHT_V1", str(v1)).replace("WEIGHT_V2", str(v2)) + extra
        (self.root / "mesh.yaml").write_text(text)
        self.repo.index.add_all()
        self.repo.index.write()
        tree = self.repo.index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        return str(self.repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Repository, Path, Path, int]]:
    """The repository, an endpoints file for stand-ins, the state folder, the port offset."""
    offset = free_port_offset([8080, 8081])
    repo = Repository(tmp_path / "repo", offset)
    with Upstreams() as upstreams:
        lines = {
            f"web.t/{subset}": [
                f"127.0.0.1:{upstreams.add('web.t.svc.cluster.local', subset).port}"
            ]
            for subset in ("v1", "v2")
        }
        endpoints = tmp_path / "endpoints.yaml"
        endpoints.write_text(yaml.safe_dump(lines))
        yield repo, endpoints, tmp_path / "state", offset


def options(repo: Repository, endpoints: Path, state: Path, **more: object) -> SyncOptions:
    return SyncOptions(location=str(repo.root), state_dir=state, endpoints=endpoints, **more)  # type: ignore[arg-type]


def split(port: int) -> Counter[str]:
    return Counter(
        (r.upstream or str(r.status)).rsplit("/", 1)[-1]
        for r in send_many(port, 200, 4, authority="web.t")
    )


def test_apply_no_op_blocked_and_history(setup: tuple[Repository, Path, Path, int]) -> None:
    repo, endpoints, state, offset = setup
    folder = EnvoyFolder(state / "envoy" / "local")
    with open_store(None, state) as store:
        (first,) = sync(options(repo, endpoints, state), store, lambda _m: None)
        assert first.result == SyncResult.APPLIED
        assert (folder.directory / "lds.yaml").is_symlink() and folder.current() is not None
        (again,) = sync(options(repo, endpoints, state), store, lambda _m: None)
        assert again.result == SyncResult.NO_OP
        config = yaml.safe_load(folder.bootstrap.read_text())
        with EnvoyProcess(config) as envoy:
            port = 8080 + offset
            assert set(split(port)) == {"v1", "v2"}
            repo.commit(100, 0, "all to v1")
            (moved,) = sync(
                options(repo, endpoints, state, admin_url=envoy.admin_url), store, lambda _m: None
            )
            assert moved.result == SyncResult.APPLIED and "confirmed by Envoy" in moved.detail
            assert split(port) == {"v1": 200}
            good = folder.current()
            repo.commit(60, 60, "weights add up to 120")
            (blocked,) = sync(
                options(repo, endpoints, state, admin_url=envoy.admin_url), store, lambda _m: None
            )
            assert (
                blocked.result == SyncResult.BLOCKED
                and "weights-not-100 at mesh.yaml:" in blocked.detail
            )
            assert folder.current() == good and split(port) == {"v1": 200}
        history = store.history(target="local")
    assert [r.result for r in history] == [
        SyncResult.BLOCKED, SyncResult.APPLIED, SyncResult.NO_OP, SyncResult.APPLIED
    ]  # fmt: skip
    assert history[0].findings and history[0].findings[0]["code"] == "weights-not-100"
    assert history[1].message == "all to v1" and history[1].author == "Ada <ada@example.com>"


def test_a_version_the_envoy_rejects_is_rolled_back(
    setup: tuple[Repository, Path, Path, int],
) -> None:
    """Envoy validates the new version (it is valid) but cannot run it: its new listener's
    port is taken. meshrc switches back, and records the rollback."""
    repo, endpoints, state, offset = setup
    folder = EnvoyFolder(state / "envoy" / "local")
    with open_store(None, state) as store:
        sync(options(repo, endpoints, state), store, lambda _m: None)
        good = folder.current()
        config = yaml.safe_load(folder.bootstrap.read_text())
        with EnvoyProcess(config) as envoy, socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 8081 + offset))
            squatter.listen()
            repo.commit(80, 20, "add the admin service", EXTRA_PORT)
            (outcome,) = sync(
                options(repo, endpoints, state, admin_url=envoy.admin_url), store, lambda _m: None
            )
            assert outcome.result == SyncResult.ROLLED_BACK, outcome.detail
            assert "Envoy rejected the new LDS" in outcome.detail
            assert folder.current() == good
            assert set(split(8080 + offset)) == {"v1", "v2"}
        (rollback,) = store.rollbacks(target="local")
    assert rollback.to_commit == good.commit if good else False
    assert rollback.reason == "Envoy rejected the new LDS"


def test_dry_run_writes_and_records_nothing(setup: tuple[Repository, Path, Path, int]) -> None:
    repo, endpoints, state, _offset = setup
    with open_store(None, state) as store:
        (outcome,) = sync(options(repo, endpoints, state, dry_run=True), store, lambda _m: None)
        assert outcome.result is None and outcome.detail.startswith(
            "would apply 1 listeners and 3 clusters"
        )
        assert store.history() == []
    assert not (state / "envoy" / "local" / "..data").exists()


def test_the_cli_exit_codes(setup: tuple[Repository, Path, Path, int]) -> None:
    repo, endpoints, state, _offset = setup
    base = ["sync", str(repo.root), "--endpoints", str(endpoints), "--state-dir", str(state)]
    applied = invoke([*base, "-o", "json"])
    no_traceback(applied)
    assert applied.exit_code == 0
    assert [row["result"] for row in yaml.safe_load(applied.stdout)] == ["applied"]
    repo.commit(10, 10, "bad weights")
    blocked = invoke(base)
    assert blocked.exit_code == 1 and blocked.stdout.startswith("local: ")
    missing = invoke([*base, "--target", "nope"])
    assert missing.exit_code == 2
    assert missing.stderr == "meshrc: error: meshrc.yaml has no target 'nope' (targets: local)\n"
    history = invoke(["history", "--state-dir", str(state), "-o", "json"])
    assert history.exit_code == 0, history.stderr
    assert [row["result"] for row in yaml.safe_load(history.stdout)] == ["blocked", "applied"]


def test_the_demo_passes() -> None:
    result = invoke(["demo"])
    no_traceback(result)
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "Every step happened as expected."
    assert any(
        "blocked: 1 finding(s) fail the checks, first weights-not-100" in line for line in lines
    )
