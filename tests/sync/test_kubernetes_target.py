"""``meshrc sync`` to Kubernetes targets: a real Git repository, real API servers (etcd and
kube-apiserver with Istio's CRDs), a real history store. What the history says is what the
cluster holds; the order of the writes is seen through real watches, and "nothing was
written" through the server's own request counters."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pygit2
import pytest
import urllib3
import yaml
from cli.helpers import invoke, no_traceback
from kubernetes.client.exceptions import ApiException

from reconciler.errors import RefNotFoundError
from reconciler.rollback import auto_revert
from reconciler.state import SyncResult, open_store
from reconciler.syncing import Outcome, SyncOptions, sync
from reconciler.targets.kubernetes import PLURALS, ObjectRef
from reconciler.testenv import DEFAULT_CRDS, TestEnv

SIGNATURE = pygit2.Signature("Ada", "ada@example.com")
GROUP, VERSION = "networking.istio.io", "v1"
SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{name: http, port: 8080}]
"""


def destination_rule(*subsets: str) -> str:
    listed = "".join(f"\n    - {{name: {s}, labels: {{version: {s}}}}}" for s in subsets)
    return f"""\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: web}}
spec:
  host: web
  subsets:{listed}
"""


def virtual_service(name: str, subset: str | None = None, weights: tuple[int, ...] = ()) -> str:
    if weights:  # a split between v1 and v2
        route = "".join(
            f"\n        - {{destination: {{host: {name}, subset: v{i + 1}}}, weight: {w}}}"
            for i, w in enumerate(weights)
        )
    else:
        to = f", subset: {subset}" if subset else ""
        route = f"\n        - destination: {{host: {name}{to}}}"
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, labels: {{team: web}}}}
spec:
  hosts: [{name}]
  http:
    - route:{route}
      timeout: 5s
"""


def mesh(*documents: str) -> dict[str, str]:
    return {"mesh/services.yaml": SERVICES, "mesh/routing.yaml": "---\n".join(documents)}


class MeshRepo:
    """A Git repository whose meshrc.yaml names the targets; each commit sets mesh/ whole."""

    def __init__(self, root: Path, targets: list[dict[str, Any]]) -> None:
        self.root = root
        self.targets = targets
        self.repo = pygit2.init_repository(str(root), initial_head="main")

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        (self.root / "meshrc.yaml").write_text(
            yaml.safe_dump({"paths": ["mesh"], "targets": self.targets})
        )
        for old in (self.root / "mesh").glob("*") if (self.root / "mesh").exists() else ():
            old.unlink()
        for name, text in files.items():
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).write_text(text)
        self.repo.index.clear()  # files removed from mesh/ leave the commit too
        self.repo.index.add_all()
        self.repo.index.write()
        tree = self.repo.index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        return str(self.repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents))


def target(name: str, env: TestEnv, namespace: str, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "kubernetes",
        "kubeconfig": str(env.kubeconfig),
        "namespace": namespace,
        **more,
    }


@pytest.fixture
def repo(tmp_path: Path, kube_env: TestEnv, kube_namespace: str) -> MeshRepo:
    return MeshRepo(tmp_path / "repo", [target("prod", kube_env, kube_namespace)])


def run(repo: MeshRepo, state: Path, **options: Any) -> list[Outcome]:
    chosen = SyncOptions(location=str(repo.root), state_dir=state, **options)
    with open_store(None, state) as store:
        return auto_revert(chosen, sync(chosen, store, quiet), store, quiet)


def quiet(_message: str) -> None:
    """No progress lines."""


def history(state: Path, target_name: str = "prod") -> list[SyncResult]:
    with open_store(None, state) as store:
        return [record.result for record in store.history(target=target_name)]


def objects(api: Any, namespace: str, plural: str) -> dict[str, dict[str, Any]]:
    listed = kubernetes.client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, plural
    )
    return {item["metadata"]["name"]: item for item in listed["items"]}


def versions(api: Any, namespace: str) -> dict[tuple[str, str], str]:
    """(plural, name) -> resourceVersion of every Istio object and ConfigMap in ``namespace``."""
    found = {
        (plural, name): item["metadata"]["resourceVersion"]
        for plural in PLURALS.values()
        for name, item in objects(api, namespace, plural).items()
    }
    maps = kubernetes.client.CoreV1Api(api).list_namespaced_config_map(namespace)
    found.update({("configmaps", m.metadata.name): m.metadata.resource_version for m in maps.items})
    return found


def inventory(api: Any, namespace: str, name: str = "prod") -> tuple[dict[str, str], Any]:
    """The inventory ConfigMap's data, and its listing."""
    found = kubernetes.client.CoreV1Api(api).read_namespaced_config_map(
        f"meshrc-inventory-{name}", namespace
    )
    listing = json.loads(gzip.decompress(base64.b64decode(found.binary_data["objects.json.gz"])))
    return found.data, listing


def served(api: Any, label: str) -> float:
    """Requests the API server has served whose metric has ``label`` (``group="..."``), by
    its own metrics (watches left out: one counts when it ends, as another test's may)."""
    answer = api.call_api("GET", f"{api.configuration.host}/metrics")
    answer.read()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in answer.data.decode().splitlines()
        if line.startswith("apiserver_request_total{")
        and label in line
        and 'verb="WATCH"' not in line
    )


def istio_requests(api: Any) -> float:
    """Requests for Istio resources the API server has served."""
    return served(api, f'group="{GROUP}"')


def subsets(api: Any, namespace: str) -> list[str]:
    rule = objects(api, namespace, "destinationrules")["web"]
    return [s["name"] for s in rule["spec"]["subsets"]]


def routed_to(api: Any, namespace: str, name: str = "web") -> list[str]:
    service = objects(api, namespace, "virtualservices")[name]
    return [r["destination"].get("subset") for r in service["spec"]["http"][0]["route"]]


def test_first_apply_then_a_no_op_that_writes_nothing(
    repo: MeshRepo, tmp_path: Path, kube_api: Any, kube_namespace: str
) -> None:
    commit = repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")), "first")
    state = tmp_path / "state"
    (first,) = run(repo, state)
    assert first.result == SyncResult.APPLIED, first.detail
    assert first.detail.endswith(": 2 created")
    service = objects(kube_api, kube_namespace, "virtualservices")["web"]
    assert service["metadata"]["labels"] == {
        "team": "web",
        "app.kubernetes.io/managed-by": "meshrc",
    }
    assert service["metadata"]["annotations"] == {
        "meshrc.io/repository": str(repo.root.resolve()),
        "meshrc.io/commit": commit,
        "meshrc.io/target": "prod",
    }
    (manager,) = {m["manager"] for m in service["metadata"]["managedFields"]}
    assert manager == "meshrc"
    data, listing = inventory(kube_api, kube_namespace)
    assert data["commit"] == commit and data["objects"] == "2" and "pending" not in data
    assert [row[1:4] for row in listing["objects"]] == [
        ["DestinationRule", kube_namespace, "web"],
        ["VirtualService", kube_namespace, "web"],
    ]
    assert listing["pending"] == []

    before, served = versions(kube_api, kube_namespace), istio_requests(kube_api)
    (again,) = run(repo, state)
    assert istio_requests(kube_api) == served  # not even a dry run reached the server
    assert again.result == SyncResult.NO_OP and again.detail == f"up to date ({commit[:12]})"
    assert versions(kube_api, kube_namespace) == before
    with open_store(None, state) as store:
        last, applied = store.history(target="prod")
    assert (last.result, applied.result) == (SyncResult.NO_OP, SyncResult.APPLIED)
    assert applied.counts == {"created": 2, "configured": 0, "unchanged": 0, "deleted": 0}
    assert applied.content_hash == data["contentHash"]


def test_dry_run_prints_the_plan_and_the_kubeconfig_option_reaches_the_cluster(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """The repository's kubeconfig does not exist: --kubeconfig replaces it."""
    elsewhere = {"kubeconfig": str(tmp_path / "no-such-kubeconfig")}
    repo = MeshRepo(tmp_path / "repo", [{**target("prod", kube_env, kube_namespace), **elsewhere}])
    repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))
    base = ["sync", str(repo.root), "--state-dir", str(tmp_path / "state")]
    unusable = invoke(base)
    no_traceback(unusable)
    assert unusable.exit_code == 2 and "cannot use kubeconfig" in unusable.stdout
    with_config = [*base, "--kubeconfig", str(kube_env.kubeconfig)]
    planned = invoke([*with_config, "--dry-run"])
    no_traceback(planned)
    assert planned.exit_code == 0, planned.output
    assert planned.stdout.splitlines()[1:] == [
        f"  create DestinationRule {kube_namespace}/web",
        f"  create VirtualService {kube_namespace}/web",
    ]
    assert objects(kube_api, kube_namespace, "virtualservices") == {}
    applied = invoke([*with_config, "-o", "json"])
    assert applied.exit_code == 0, applied.output
    (row,) = json.loads(applied.stdout)
    assert row["result"] == "applied" and row["changes"] == []
    assert set(objects(kube_api, kube_namespace, "virtualservices")) == {"web"}
    assert history(tmp_path / "state") == [SyncResult.APPLIED, SyncResult.FAILED]


def watch(api: Any, namespace: str, plural: str, since: str, into: list[Any]) -> Any:
    """Watch ``plural`` from resourceVersion ``since`` in a thread; the Watch, to stop it."""
    watcher = kubernetes.watch.Watch()
    lister = kubernetes.client.CustomObjectsApi(api).list_namespaced_custom_object

    def collect() -> None:
        try:
            for event in watcher.stream(
                lister,
                GROUP,
                VERSION,
                namespace,
                plural,
                resource_version=since,
                timeout_seconds=30,
            ):
                into.append(event["object"])
        except urllib3.exceptions.HTTPError:
            pass  # a later test stopped the server before the watch's own end

    threading.Thread(target=collect, daemon=True).start()
    return watcher


def test_subsets_change_make_before_break_as_a_watch_sees_it(
    repo: MeshRepo, tmp_path: Path, kube_api: Any, kube_namespace: str
) -> None:
    """v1,v2 -> v2,v3 while the VirtualService moves from v1 to v3: the DestinationRule
    holds v1, v2 and v3 before the route moves, and loses v1 only after."""
    repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))
    state = tmp_path / "state"
    assert run(repo, state)[0].result == SyncResult.APPLIED
    since = kubernetes.client.CustomObjectsApi(kube_api).list_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, "virtualservices"
    )["metadata"]["resourceVersion"]
    seen: list[Any] = []
    watchers = [
        watch(kube_api, kube_namespace, p, since, seen)
        for p in ("destinationrules", "virtualservices")
    ]
    try:
        repo.commit(mesh(destination_rule("v2", "v3"), virtual_service("web", "v3")), "to v3")
        (moved,) = run(repo, state)
        assert moved.result == SyncResult.APPLIED and moved.detail.endswith(": 2 configured")
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for watcher in watchers:
            watcher.stop()
    steps = [
        (o["kind"], [s["name"] for s in o["spec"]["subsets"]])
        if o["kind"] == "DestinationRule"
        else (o["kind"], [r["destination"]["subset"] for r in o["spec"]["http"][0]["route"]])
        for o in sorted(seen, key=lambda o: int(o["metadata"]["resourceVersion"]))
    ]
    assert steps == [
        ("DestinationRule", ["v2", "v3", "v1"]),
        ("VirtualService", ["v3"]),
        ("DestinationRule", ["v2", "v3"]),
    ]


def test_what_left_git_is_pruned_unless_prune_is_false(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    repo = MeshRepo(tmp_path / "repo", [target("prod", kube_env, kube_namespace)])
    state = tmp_path / "state"
    both = mesh(destination_rule("v1"), virtual_service("web", "v1"), virtual_service("api"))
    repo.commit(both)
    run(repo, state)
    repo.commit(mesh(destination_rule("v1"), virtual_service("web", "v1")), "drop api")
    (pruned,) = run(repo, state)
    assert pruned.result == SyncResult.APPLIED and pruned.detail.endswith("2 unchanged, 1 deleted")
    assert set(objects(kube_api, kube_namespace, "virtualservices")) == {"web"}

    repo.targets = [target("prod", kube_env, kube_namespace, prune=False)]
    repo.commit(both, "api again, and prune: false")
    assert run(repo, state)[0].detail.endswith("1 created, 2 unchanged")
    repo.commit(mesh(destination_rule("v1"), virtual_service("web", "v1")), "drop api again")
    (kept,) = run(repo, state)
    assert kept.result == SyncResult.NO_OP
    assert set(objects(kube_api, kube_namespace, "virtualservices")) == {"web", "api"}
    _, listing = inventory(kube_api, kube_namespace)
    assert ["VirtualService", kube_namespace, "api"] in [row[1:4] for row in listing["objects"]]


def take_http(api: Any, namespace: str, manager: str) -> None:
    """Another field manager sets the VirtualService's routes (to v2), as `kubectl edit` would."""
    route = [{"destination": {"host": "web", "subset": "v2"}}]
    kubernetes.client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "virtualservices",
        "web",
        {"spec": {"http": [{"route": route}]}},
        field_manager=manager,
        _content_type="application/merge-patch+json",
    )


def test_a_conflict_with_another_field_manager_fails_unless_forced(
    repo: MeshRepo, tmp_path: Path, kube_api: Any, kube_namespace: str
) -> None:
    repo.commit(mesh(destination_rule("v1", "v2", "v3"), virtual_service("web", "v1")))
    state = tmp_path / "state"
    run(repo, state)
    take_http(kube_api, kube_namespace, "on-call")
    repo.commit(mesh(destination_rule("v1", "v2", "v3"), virtual_service("web", "v3")), "to v3")
    before = versions(kube_api, kube_namespace)
    (refused,) = run(repo, state)
    assert refused.result == SyncResult.FAILED
    assert (
        f"VirtualService {kube_namespace}/web: conflict with another field manager on "
        '.spec.http (owned by "on-call"): --force-conflicts takes these fields over '
        "(mesh/routing.yaml:" in refused.detail
    )
    assert "so none was applied" in refused.detail
    assert versions(kube_api, kube_namespace) == before and routed_to(kube_api, kube_namespace) == [
        "v2"
    ]
    forced = invoke(["sync", str(repo.root), "--state-dir", str(state), "--force-conflicts"])
    assert forced.exit_code == 0, forced.output
    assert routed_to(kube_api, kube_namespace) == ["v3"]
    assert history(state) == [SyncResult.APPLIED, SyncResult.FAILED, SyncResult.APPLIED]


def test_a_conflict_part_way_is_rolled_back(
    repo: MeshRepo, tmp_path: Path, kube_api: Any, kube_namespace: str
) -> None:
    """The dry run passes; then, between the DestinationRule's write and the VirtualService's,
    another manager takes the routes: the sync puts back the DestinationRule, deletes the
    ServiceEntry it created, restores the inventory, and leaves the other manager's edit."""
    good = repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))
    state = tmp_path / "state"
    run(repo, state)
    entry = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments}
spec:
  hosts: [payments.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: https, protocol: TLS}]
"""
    repo.commit(mesh(entry, destination_rule("v2", "v3"), virtual_service("web", "v3")), "to v3")
    writes: list[tuple[str, ObjectRef]] = []

    def edit_first(action: str, ref: ObjectRef) -> None:
        writes.append((action, ref))
        if ref.kind == "VirtualService":
            take_http(kube_api, kube_namespace, "on-call")

    (outcome,) = run(repo, state, before_write=edit_first)
    assert outcome.result == SyncResult.ROLLED_BACK, outcome.detail
    assert outcome.detail.startswith(f"rolled back to {good[:12]}: VirtualService")
    assert [ref.kind for _, ref in writes] == ["ServiceEntry", "DestinationRule", "VirtualService"]
    assert subsets(kube_api, kube_namespace) == ["v1", "v2"]
    assert objects(kube_api, kube_namespace, "serviceentries") == {}
    assert routed_to(kube_api, kube_namespace) == ["v2"]  # the other manager's, untouched
    data, listing = inventory(kube_api, kube_namespace)
    assert data["commit"] == good and "pending" not in data and listing["pending"] == []
    with open_store(None, state) as store:
        (rollback,) = store.rollbacks(target="prod")
    assert rollback.to_commit == good and "conflict with another field manager" in rollback.reason


def test_a_first_sync_that_fails_part_way_leaves_nothing_behind(
    repo: MeshRepo, tmp_path: Path, kube_api: Any, kube_namespace: str
) -> None:
    """Someone creates the VirtualService, with other routes, just before meshrc applies it:
    what the sync created is deleted, the inventory too; the other's object stays."""
    repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))

    def create_first(action: str, ref: ObjectRef) -> None:
        if ref.kind == "VirtualService":
            body = yaml.safe_load(virtual_service("web", "v2"))
            kubernetes.client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
                GROUP, VERSION, kube_namespace, "virtualservices", body, field_manager="on-call"
            )

    state = tmp_path / "state"
    (outcome,) = run(repo, state, before_write=create_first)
    assert outcome.result == SyncResult.ROLLED_BACK, outcome.detail
    assert outcome.detail.startswith("rolled back (nothing was there): VirtualService")
    assert objects(kube_api, kube_namespace, "destinationrules") == {}
    assert routed_to(kube_api, kube_namespace) == ["v2"]
    maps = kubernetes.client.CoreV1Api(kube_api).list_namespaced_config_map(kube_namespace)
    assert [m.metadata.name for m in maps.items if m.metadata.name.startswith("meshrc")] == []
    with open_store(None, state) as store:
        assert store.rollbacks(target="prod") == []  # no commit to roll back to


def test_two_clusters_are_synced_independently(
    tmp_path: Path, kube_env: TestEnv, kube_env_b: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    with kubernetes.config.new_client_from_config(config_file=str(kube_env_b.kubeconfig)) as api_b:
        kubernetes.client.CoreV1Api(api_b).create_namespace({"metadata": {"name": kube_namespace}})
        targets = [target("eu", kube_env, kube_namespace), target("us", kube_env_b, kube_namespace)]
        repo = MeshRepo(tmp_path / "repo", targets)
        repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))
        state = tmp_path / "state"
        assert [o.result for o in run(repo, state)] == [SyncResult.APPLIED] * 2
        assert routed_to(api_b, kube_namespace) == ["v1"]
        repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v2")), "to v2")
        kube_env_b.stop_apiserver()
        try:
            eu, us = run(repo, state)
        finally:
            kube_env_b.start_apiserver()
        assert eu.result == SyncResult.APPLIED and routed_to(kube_api, kube_namespace) == ["v2"]
        assert us.result == SyncResult.FAILED
        assert us.detail.startswith(f"failed: the API server {kube_env_b.server} is unreachable")
        assert routed_to(api_b, kube_namespace) == ["v1"]
    assert history(state, "us") == [SyncResult.FAILED, SyncResult.APPLIED]


def test_a_blocked_commit_leaves_the_cluster_untouched(
    repo: MeshRepo, tmp_path: Path, kube_api: Any, kube_namespace: str
) -> None:
    repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", weights=(80, 20))))
    state = tmp_path / "state"
    run(repo, state)
    before, served = versions(kube_api, kube_namespace), istio_requests(kube_api)
    repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", weights=(60, 60))))
    (blocked,) = run(repo, state)
    assert istio_requests(kube_api) == served
    assert blocked.result == SyncResult.BLOCKED and "weights-not-100" in blocked.detail
    assert versions(kube_api, kube_namespace) == before


def test_the_api_server_stopped_mid_apply_is_recorded_and_repaired_by_the_next_sync(
    repo: MeshRepo, tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """The server goes away after the first of three writes: nothing can be put back, so the
    sync is recorded failed, naming the server; the inventory written before the first
    write lists what may have changed, and the next sync applies it again."""
    repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))
    state = tmp_path / "state"
    run(repo, state)
    wanted = repo.commit(mesh(destination_rule("v2", "v3"), virtual_service("web", "v3")), "v3")
    writes: list[ObjectRef] = []

    def stop_at_the_second_write(action: str, ref: ObjectRef) -> None:
        writes.append(ref)
        if len(writes) == 2:
            kube_env.stop_apiserver()

    try:
        (cut,) = run(repo, state, before_write=stop_at_the_second_write)
    finally:
        kube_env.start_apiserver()
    assert cut.result == SyncResult.FAILED
    assert f"the API server {kube_env.server} is unreachable" in cut.detail
    assert (
        "the rollback failed too" in cut.detail and "the next sync applies it again" in cut.detail
    )
    assert subsets(kube_api, kube_namespace) == ["v2", "v3", "v1"]  # half-way, as written
    data, listing = inventory(kube_api, kube_namespace)
    assert data["pending"] == wanted
    listed = {tuple(row[1:4]) for row in listing["objects"] + listing["pending"]}
    there = {
        (item["kind"], kube_namespace, name)
        for plural in ("destinationrules", "virtualservices")
        for name, item in objects(kube_api, kube_namespace, plural).items()
    }
    assert there <= listed

    (repaired,) = run(repo, state)
    assert repaired.result == SyncResult.APPLIED and repaired.detail.endswith(": 2 configured")
    assert subsets(kube_api, kube_namespace) == ["v2", "v3"]
    assert routed_to(kube_api, kube_namespace) == ["v3"]
    data, listing = inventory(kube_api, kube_namespace)
    assert data["commit"] == wanted and "pending" not in data and listing["pending"] == []
    assert history(state) == [SyncResult.APPLIED, SyncResult.FAILED, SyncResult.APPLIED]


def test_an_object_the_crd_schema_rejects_fails_before_anything_is_written(
    repo: MeshRepo, tmp_path: Path, kube_api: Any, kube_namespace: str
) -> None:
    """A WorkloadEntry with neither address nor network passes meshrc's checks; the CRD's
    validation rule rejects it (422). The dry run finds it: the other changes are not made."""
    repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))
    state = tmp_path / "state"
    run(repo, state)
    before = versions(kube_api, kube_namespace)
    workload = "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: vm}\n"
    workload += "spec:\n  labels: {app: web, version: v3}\n"
    repo.commit(mesh(workload, destination_rule("v1", "v2", "v3"), virtual_service("web", "v3")))
    (rejected,) = run(repo, state)
    assert rejected.result == SyncResult.FAILED
    assert "refuses 1 of 3 change(s), so none was applied" in rejected.detail
    assert f"WorkloadEntry {kube_namespace}/vm: " in rejected.detail
    assert "Address is required (HTTP 422) (mesh/routing.yaml:1)" in rejected.detail
    assert versions(kube_api, kube_namespace) == before


@pytest.fixture(scope="module")
def cluster_without_workload_entries(
    tmp_path_factory: pytest.TempPathFactory, kube_binaries: None
) -> Iterator[TestEnv]:
    """A cluster with Istio's CRDs but WorkloadEntry's."""
    directory = tmp_path_factory.mktemp("no-workloadentries")
    crds = [
        crd
        for crd in yaml.safe_load_all(DEFAULT_CRDS.read_text())
        if crd and crd["spec"]["names"]["kind"] != "WorkloadEntry"
    ]
    (directory / "crds.yaml").write_text(yaml.safe_dump_all(crds))
    with TestEnv(directory / "env", crds=[directory / "crds.yaml"], namespaces=["mesh"]) as env:
        yield env


def test_a_kind_whose_crd_is_missing_fails_before_anything_is_written(
    tmp_path: Path, cluster_without_workload_entries: TestEnv
) -> None:
    env = cluster_without_workload_entries
    repo = MeshRepo(tmp_path / "repo", [target("prod", env, "mesh")])
    workload = "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: vm}\n"
    workload += "spec:\n  address: 10.0.0.9\n  labels: {app: web, version: v1}\n"
    repo.commit(mesh(workload, destination_rule("v1"), virtual_service("web", "v1")))
    (missing,) = run(repo, tmp_path / "state")
    assert missing.result == SyncResult.FAILED
    assert (
        "WorkloadEntry mesh/vm: the API server does not serve networking.istio.io/v1 "
        "workloadentries: is the CRD workloadentries.networking.istio.io installed?"
    ) in missing.detail
    with kubernetes.config.new_client_from_config(config_file=str(env.kubeconfig)) as api:
        assert objects(api, "mesh", "destinationrules") == {}
        with pytest.raises(ApiException) as absent:
            kubernetes.client.CoreV1Api(api).read_namespaced_config_map(
                "meshrc-inventory-prod", "mesh"
            )
    assert absent.value.status == 404


def test_a_ref_that_vanished_after_a_force_push_applies_nothing(
    repo: MeshRepo, tmp_path: Path, kube_api: Any, kube_namespace: str
) -> None:
    """A deleted branch is a clear error before any target is read, and is not recorded (no
    commit to record); a rewritten one is just its new commit."""
    first = repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v1")))
    repo.repo.branches.local.create("feature", repo.repo[first])
    state = tmp_path / "state"
    assert run(repo, state, ref="feature")[0].result == SyncResult.APPLIED
    before = versions(kube_api, kube_namespace)
    repo.repo.branches.local.delete("feature")
    with pytest.raises(RefNotFoundError, match="ref 'feature' not found"):
        run(repo, state, ref="feature")
    result = invoke(["sync", str(repo.root), "--ref", "feature", "--state-dir", str(state)])
    no_traceback(result)
    assert result.exit_code == 2 and "ref 'feature' not found" in result.stderr
    assert versions(kube_api, kube_namespace) == before
    assert history(state) == [SyncResult.APPLIED]

    rewritten = repo.commit(mesh(destination_rule("v1", "v2"), virtual_service("web", "v2")))
    repo.repo.branches.local.create("feature", repo.repo[rewritten])
    (moved,) = run(repo, state, ref="feature")
    assert moved.result == SyncResult.APPLIED and routed_to(kube_api, kube_namespace) == ["v2"]


def test_only_checked_files_are_applied(
    tmp_path: Path, kube_env: TestEnv, kube_namespace: str
) -> None:
    own = target("prod", kube_env, kube_namespace, paths=["elsewhere"])
    repo = MeshRepo(tmp_path / "repo", [own])
    repo.commit({**mesh(virtual_service("web")), "elsewhere/api.yaml": virtual_service("api")})
    (refused,) = run(repo, tmp_path / "state")
    assert refused.result == SyncResult.FAILED
    assert "outside the paths meshrc.yaml checks, first elsewhere/api.yaml" in refused.detail
