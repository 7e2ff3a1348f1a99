"""``meshrc drift``: real API servers (a fresh namespace per test), a real Git repository and
history store; the commit's objects against what another client made of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from cli.helpers import invoke, no_traceback

from reconciler.drift import DriftOptions, TargetDrift, detect, field_diff
from reconciler.state import SyncResult, open_store
from reconciler.testenv import TestEnv

from .test_kubernetes_target import (
    GROUP,
    VERSION,
    MeshRepo,
    destination_rule,
    mesh,
    objects,
    run,
    target,
)

RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, labels: {}}
spec:
  host: api
  exportTo: []
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 30ms}
      http: {http1MaxPendingRequests: 10, maxRequestsPerConnection: 1}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
"""
ROUTES = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api]
  http:
    - match: [{headers: {end-user: {exact: jason}}}]
      route: [{destination: {host: api, subset: v2}}]
    - route:
        - {destination: {host: api, subset: v1, port: {number: 8080}}, weight: 80}
        - {destination: {host: api, subset: v2, port: {number: 8080}}, weight: 20}
      retries: {attempts: 3, perTryTimeout: 2s}
      timeout: 5s
"""


@pytest.fixture
def synced(tmp_path: Path, kube_env: TestEnv, kube_namespace: str) -> tuple[MeshRepo, Path]:
    """A repository applied to ``prod`` (warn): the rule and routes above, and ``web``'s."""
    repo = MeshRepo(tmp_path / "repo", [target("prod", kube_env, kube_namespace)])
    repo.commit(mesh(RULE, ROUTES, destination_rule("v1", "v2")))
    state = tmp_path / "state"
    (outcome,) = run(repo, state)
    assert outcome.result == SyncResult.APPLIED, outcome.detail
    return repo, state


def check(repo: MeshRepo, state: Path, heal: bool = False) -> TargetDrift:
    with open_store(None, state) as store:
        (found,) = detect(
            DriftOptions(location=str(repo.root), state_dir=state, heal=heal), store, lambda _: None
        )
    return found


def custom(api: Any) -> Any:
    return kubernetes.client.CustomObjectsApi(api)


def events(api: Any, namespace: str) -> list[Any]:
    listed = kubernetes.client.CoreV1Api(api).list_namespaced_event(namespace)
    return [e for e in listed.items if e.reason == "MeshrcDrift"]


def test_a_freshly_applied_target_has_no_drift(
    synced: tuple[MeshRepo, Path], kube_api: Any, kube_namespace: str
) -> None:
    repo, state = synced
    found = check(repo, state)
    assert (found.error, found.drifts) == (None, ())
    assert found.commit == found.last_applied and found.commit is not None
    result = invoke(["drift", str(repo.root), "--state-dir", str(state)])
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"prod: no drift ({found.commit[:12]})\n"
    assert events(kube_api, kube_namespace) == []


def test_server_normalisations_are_not_drift() -> None:
    applied = {"metadata": {"labels": {}}, "spec": {"a": 1, "b": [], "c": {"x": "1", "y": 2}}}
    live = {
        "metadata": {"resourceVersion": "9", "managedFields": [{"manager": "meshrc"}]},
        "spec": {"c": {"y": "2", "x": 1, "z": "defaulted"}, "a": 1},
        "status": {"anything": True},
    }
    assert field_diff(applied, live) == []
    live["metadata"]["managedFields"].append({"manager": "kubectl-edit"})
    assert field_diff(applied, live) == [{"path": "spec.c.z", "before": None, "after": "defaulted"}]


def test_an_edited_object_is_recorded_with_an_event_then_healed(
    synced: tuple[MeshRepo, Path], kube_api: Any, kube_namespace: str
) -> None:
    repo, state = synced
    service = objects(kube_api, kube_namespace, "virtualservices")["api"]
    service["spec"]["http"][1]["route"][0]["weight"] = 10
    service["spec"]["http"][1]["route"][1]["weight"] = 90
    custom(kube_api).replace_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, "virtualservices", "api", service
    )
    found = check(repo, state)
    assert len(found.drifts) == 1, found.line()
    (drift,) = found.drifts
    assert (drift.kind, drift.object, drift.healed) == (
        "modified",
        f"VirtualService {kube_namespace}/api",
        False,
    )
    assert drift.fields == [
        {"path": "spec.http[1].route[0].weight", "before": 80, "after": 10},
        {"path": "spec.http[1].route[1].weight", "before": 20, "after": 90},
    ]
    (event,) = events(kube_api, kube_namespace)
    assert (event.involved_object.kind, event.involved_object.name) == ("VirtualService", "api")
    assert "spec.http[1].route[0].weight: 80 -> 10" in event.message

    result = invoke(["drift", str(repo.root), "--state-dir", str(state), "-o", "json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)[0]["drifts"][0]["fields"] == drift.fields

    healed = check(repo, state, heal=True)
    assert [d.healed for d in healed.drifts] == [True]
    route = objects(kube_api, kube_namespace, "virtualservices")["api"]["spec"]["http"][1]
    assert [r["weight"] for r in route["route"]] == [80, 20]
    assert check(repo, state).drifts == ()
    with open_store(None, state) as store:
        assert [d.healed for d in store.drifts("prod")] == [True, False, False]
    shown = invoke(["history", "--drift", "--state-dir", str(state)])
    assert shown.exit_code == 0, shown.output
    assert "modified" in shown.stdout and "spec.http[1].route[0].weight: 80 -> 10" in shown.stdout


def test_a_deleted_object_is_found_and_heal_recreates_it(
    synced: tuple[MeshRepo, Path], kube_api: Any, kube_namespace: str
) -> None:
    repo, state = synced
    custom(kube_api).delete_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, "destinationrules", "api"
    )
    (drift,) = check(repo, state).drifts
    assert (drift.kind, drift.object) == ("deleted", f"DestinationRule {kube_namespace}/api")
    (event,) = events(kube_api, kube_namespace)
    assert event.involved_object.name == "meshrc-inventory-prod"
    result = invoke(["drift", str(repo.root), "--state-dir", str(state), "--heal"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("prod: 1 drift, 1 healed")
    rule = objects(kube_api, kube_namespace, "destinationrules")["api"]
    assert rule["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] == 100
    assert check(repo, state).drifts == ()


def test_a_foreign_object_with_our_label_is_found(
    synced: tuple[MeshRepo, Path], kube_api: Any, kube_namespace: str
) -> None:
    repo, state = synced
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VirtualService",
        "metadata": {
            "name": "stray",
            "labels": {"app.kubernetes.io/managed-by": "meshrc"},
            "annotations": {"meshrc.io/target": "prod"},
        },
        "spec": {"hosts": ["stray"], "http": [{"route": [{"destination": {"host": "stray"}}]}]},
    }
    custom(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, "virtualservices", body
    )
    (drift,) = check(repo, state, heal=True).drifts
    assert (drift.kind, drift.object, drift.healed) == (
        "foreign",
        f"VirtualService {kube_namespace}/stray",
        False,
    )


def test_a_target_never_synced_cannot_be_checked(
    tmp_path: Path, kube_env: TestEnv, kube_namespace: str
) -> None:
    repo = MeshRepo(tmp_path / "repo", [target("prod", kube_env, kube_namespace)])
    repo.commit(mesh(RULE))
    result = invoke(["drift", str(repo.root), "--state-dir", str(tmp_path / "state")])
    no_traceback(result)
    assert result.exit_code == 2 and "never synced" in result.stdout


@pytest.mark.usefixtures("envoy_binary")
def test_an_edited_envoy_folder_file_is_found(tmp_path: Path) -> None:
    repo = MeshRepo(tmp_path / "repo", [{"name": "local", "type": "envoy"}])
    repo.commit(mesh(RULE, ROUTES))
    state = tmp_path / "state"
    (outcome,) = run(repo, state)
    assert outcome.result == SyncResult.APPLIED, outcome.detail
    assert check(repo, state).drifts == ()
    lds = state / "envoy" / "local" / "lds.yaml"
    lds.write_text(lds.read_text().replace("9080", "9999") + "\n# edited\n")
    (drift,) = check(repo, state).drifts
    assert drift.kind == "files" and drift.object.endswith("/lds.yaml")
    assert drift.detail == "edited"
