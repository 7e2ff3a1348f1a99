"""``meshrc sync`` with ``apply: [istio, envoy]``: each proxy's rendered configuration as a
ConfigMap, on a real API server whose EndpointSlices and Pods say where the Services are, each
configuration loaded by a real Envoy first. The helpers are the Kubernetes target tests'."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from cli.helpers import invoke, no_traceback
from kubernetes.client.exceptions import ApiException

from reconciler.errors import ConfigError
from reconciler.state import SyncResult
from reconciler.targets import envoy_configmaps
from reconciler.targets.envoy_configmaps import configmap_name
from reconciler.targets.kubernetes import ObjectRef
from reconciler.testenv import TestEnv
from sync.test_kubernetes_target import (
    GROUP,
    VERSION,
    MeshRepo,
    destination_rule,
    inventory,
    istio_requests,
    mesh,
    run,
    served,
    target,
    versions,
    virtual_service,
)

pytestmark = pytest.mark.usefixtures("envoy_binary")

EDGE = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: [shop.example.com]
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: [shop.example.com]
      tls: {mode: SIMPLE, credentialName: edge-cert}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  gateways: [edge]
  http:
    - route: [{destination: {host: api}}]
      timeout: 5s
"""
XDS = ("bootstrap.yaml", "lds.yaml", "cds.yaml")


def routing(web_subset: str = "v1") -> dict[str, str]:
    return mesh(destination_rule("v1", "v2"), virtual_service("web", web_subset), EDGE)


def envoy_repo(tmp_path: Path, env: TestEnv, namespace: str, **more: Any) -> MeshRepo:
    rendering = target("prod", env, namespace, apply=["istio", "envoy"], **more)
    return MeshRepo(tmp_path / "repo", [rendering])


def configmap(api: Any, namespace: str, proxy: str) -> Any:
    name = configmap_name(proxy)
    return kubernetes.client.CoreV1Api(api).read_namespaced_config_map(name, namespace)


def envoy_maps(api: Any, namespace: str) -> set[str]:
    maps = kubernetes.client.CoreV1Api(api).list_namespaced_config_map(namespace)
    return {m.metadata.name for m in maps.items if m.metadata.name.startswith("meshrc-envoy-")}


def web_pod(api: Any, namespace: str, name: str, version: str, address: str) -> None:
    """A Pod of Service web, and the EndpointSlice that says where it is (no controller
    runs to make one)."""
    labels = {"app": "web", "version": version}
    container = {"name": "web", "image": "web"}
    body = {"metadata": {"name": name, "labels": labels}, "spec": {"containers": [container]}}
    kubernetes.client.CoreV1Api(api).create_namespaced_pod(namespace, body)
    kubernetes.client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
        namespace,
        {
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": [address],
                    "targetRef": {"kind": "Pod", "namespace": namespace, "name": name},
                }
            ],
        },
    )


def addresses(api: Any, namespace: str, subset: str) -> list[str]:
    """The addresses of the mesh ConfigMap's cluster of web's ``subset``."""
    cds = yaml.safe_load(configmap(api, namespace, "mesh").data["cds.yaml"])
    name = f"outbound|8080|{subset}|web.{namespace}.svc.cluster.local"
    (cluster,) = [c for c in cds["resources"] if c["name"] == name]
    return [
        e["endpoint"]["address"]["socket_address"]["address"]
        for group in cluster["load_assignment"].get("endpoints", ())
        for e in group["lb_endpoints"]
    ]


def test_the_configmaps_hold_what_meshrc_render_writes(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """Byte for byte, for the sidecar and for a Gateway with an HTTPS server (whose Secret
    is not on this machine: the Envoy that validates it loads stand-ins)."""
    namespace, gateway = kube_namespace, f"{kube_namespace}/edge"
    web_pod(kube_api, namespace, "web-a", "v1", "10.0.0.1")
    repo = envoy_repo(tmp_path, kube_env, namespace, proxies=["mesh", gateway])
    commit = repo.commit(routing())
    (applied,) = run(repo, tmp_path / "state")
    assert applied.result == SyncResult.APPLIED, applied.detail
    assert applied.detail.endswith(": 6 created")
    for proxy in ("mesh", gateway):
        out = tmp_path / "rendered" / proxy.replace("/", "-")
        rendered = invoke(
            [
                *("render", str(repo.root), "--proxy", proxy, "--proxy-namespace", namespace),
                *("--namespace", namespace, "--kubeconfig", str(kube_env.kubeconfig)),
                *("--format", "xds", "--out", str(out), "--xds-dir", "/etc/envoy/xds"),
            ]
        )
        no_traceback(rendered)
        assert rendered.exit_code == 0, rendered.output
        found = configmap(kube_api, namespace, proxy)
        assert found.data == {name: (out / name).read_text() for name in XDS}
        assert found.metadata.labels == {"app.kubernetes.io/managed-by": "meshrc"}
        assert found.metadata.annotations == {
            "meshrc.io/proxy": proxy,
            "meshrc.io/repository": str(repo.root.resolve()),
            "meshrc.io/target": "prod",
            "meshrc.io/commit": commit,
        }
    edge = configmap(kube_api, namespace, gateway)
    assert edge.metadata.name == f"meshrc-envoy-{namespace}-edge"
    assert "filename: /etc/istio/credentials/edge-cert/tls.crt" in edge.data["lds.yaml"]
    assert "path: /etc/envoy/xds/lds.yaml" in edge.data["bootstrap.yaml"]
    assert addresses(kube_api, namespace, "v1") == ["10.0.0.1"]
    _, listing = inventory(kube_api, namespace)
    assert [row[:4] for row in listing["objects"] if row[1] == "ConfigMap"] == [
        ["v1", "ConfigMap", namespace, "meshrc-envoy-mesh"],
        ["v1", "ConfigMap", namespace, f"meshrc-envoy-{namespace}-edge"],
    ]


def test_no_op_writes_nothing_and_the_fast_one_reads_no_pods(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    repo = envoy_repo(tmp_path, kube_env, kube_namespace, proxies=["mesh"])
    repo.commit(routing())
    state = tmp_path / "state"
    assert run(repo, state)[0].result == SyncResult.APPLIED
    before = versions(kube_api, kube_namespace)
    pod_lists, istio = served(kube_api, 'resource="pods"'), istio_requests(kube_api)
    (fast,) = run(repo, state)
    assert fast.result == SyncResult.NO_OP
    assert served(kube_api, 'resource="pods"') == pod_lists and istio_requests(kube_api) == istio
    # A comment changes the files' key: the sync renders again, to the same bytes.
    repo.commit({**routing(), "mesh/notes.yaml": "# nothing\n"}, "a comment")
    (planned,) = run(repo, state)
    assert planned.result == SyncResult.NO_OP, planned.detail
    assert served(kube_api, 'resource="pods"') > pod_lists
    assert versions(kube_api, kube_namespace) == before


def test_pods_the_cluster_gains_reach_their_subsets_on_the_next_sync_that_plans(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """The fast no-op does not read the cluster (see ``source_key``): a new Pod is in the
    ConfigMap once the files change, in the default cluster and its version's subset."""
    namespace = kube_namespace
    web_pod(kube_api, namespace, "web-a", "v1", "10.0.0.1")
    repo = envoy_repo(tmp_path, kube_env, namespace, proxies=["mesh"])
    repo.commit(routing())
    state = tmp_path / "state"
    run(repo, state)
    web_pod(kube_api, namespace, "web-b", "v2", "10.0.0.2")
    assert run(repo, state)[0].result == SyncResult.NO_OP
    assert addresses(kube_api, namespace, "v2") == []
    repo.commit({**routing(), "mesh/notes.yaml": "# web-b\n"}, "a comment")
    (moved,) = run(repo, state)
    assert moved.result == SyncResult.APPLIED and moved.detail.endswith(
        ": 1 configured, 4 unchanged"
    )
    assert addresses(kube_api, namespace, "") == ["10.0.0.1", "10.0.0.2"]
    assert addresses(kube_api, namespace, "v1") == ["10.0.0.1"]
    assert addresses(kube_api, namespace, "v2") == ["10.0.0.2"]


def test_a_routing_change_writes_only_the_virtual_service_and_the_configmap_it_changes(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """The Gateway's configuration does not change with a route it does not serve: its
    ConfigMap, like every other object, keeps its resourceVersion."""
    gateway = f"{kube_namespace}/edge"
    repo = envoy_repo(tmp_path, kube_env, kube_namespace, proxies=["mesh", gateway])
    repo.commit(routing("v1"))
    state = tmp_path / "state"
    run(repo, state)
    before = versions(kube_api, kube_namespace)
    repo.commit(routing("v2"), "web to v2")
    (moved,) = run(repo, state)
    assert moved.result == SyncResult.APPLIED
    assert moved.detail.endswith(": 2 configured, 4 unchanged")
    after = versions(kube_api, kube_namespace)
    assert {key for key, version in after.items() if version != before[key]} == {
        ("virtualservices", "web"),
        ("configmaps", "meshrc-envoy-mesh"),
        ("configmaps", "meshrc-inventory-prod"),
    }
    routes = configmap(kube_api, kube_namespace, "mesh").data["lds.yaml"]
    web = f"web.{kube_namespace}.svc.cluster.local"
    assert f"cluster: outbound|8080|v2|{web}" in routes
    assert f"cluster: outbound|8080|v1|{web}" not in routes


def test_a_conflict_after_the_configmap_was_written_puts_it_back(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """web moves from v1 to v2 and v1 leaves the DestinationRule: the ConfigMap is written
    before the trim, which another field manager's edit makes conflict. The rollback puts
    the ConfigMap back as it was, with the other objects."""
    repo = envoy_repo(tmp_path, kube_env, kube_namespace, proxies=["mesh"])
    good = repo.commit(routing("v1"))
    state = tmp_path / "state"
    run(repo, state)
    before = configmap(kube_api, kube_namespace, "mesh").data
    repo.commit(mesh(destination_rule("v2"), virtual_service("web", "v2"), EDGE), "v1 gone")
    writes: list[str] = []

    def edit_the_subsets_before_the_trim(action: str, ref: ObjectRef) -> None:
        writes.append(ref.kind)
        if writes.count("DestinationRule") == 2:
            subsets = [{"name": "v3", "labels": {"version": "v3"}}]
            kubernetes.client.CustomObjectsApi(kube_api).patch_namespaced_custom_object(
                GROUP,
                VERSION,
                kube_namespace,
                "destinationrules",
                "web",
                {"spec": {"subsets": subsets}},
                field_manager="on-call",
                _content_type="application/merge-patch+json",
            )

    (outcome,) = run(repo, state, before_write=edit_the_subsets_before_the_trim)
    assert outcome.result == SyncResult.ROLLED_BACK, outcome.detail
    assert writes == ["DestinationRule", "VirtualService", "ConfigMap", "DestinationRule"]
    assert configmap(kube_api, kube_namespace, "mesh").data == before
    data, _ = inventory(kube_api, kube_namespace)
    assert data["commit"] == good and "pending" not in data


def test_every_gateway_by_default_and_a_proxy_left_out_is_pruned(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    repo = envoy_repo(tmp_path, kube_env, kube_namespace)
    repo.commit(routing())
    state = tmp_path / "state"
    assert run(repo, state)[0].detail.endswith(": 5 created")
    assert envoy_maps(kube_api, kube_namespace) == {f"meshrc-envoy-{kube_namespace}-edge"}
    repo.targets = [{**repo.targets[0], "proxies": ["mesh"]}]
    repo.commit(routing(), "only the sidecar")
    (pruned,) = run(repo, state)
    assert pruned.result == SyncResult.APPLIED
    assert pruned.detail.endswith(": 1 created, 4 unchanged, 1 deleted")
    assert envoy_maps(kube_api, kube_namespace) == {"meshrc-envoy-mesh"}
    _, listing = inventory(kube_api, kube_namespace)
    assert [row[3] for row in listing["objects"] if row[1] == "ConfigMap"] == ["meshrc-envoy-mesh"]


def test_proxies_without_envoy_in_apply_is_a_config_error(
    tmp_path: Path, kube_env: TestEnv, kube_namespace: str
) -> None:
    repo = MeshRepo(tmp_path / "repo", [target("prod", kube_env, kube_namespace, proxies=["mesh"])])
    repo.commit(routing())
    with pytest.raises(ConfigError, match=r"targets\.0\.kubernetes: .*proxies: only with `apply: "):
        run(repo, tmp_path / "state")


def test_a_configuration_envoy_rejects_fails_the_sync_before_any_write(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """A back-reference passes the checks and the CRD's schema; Envoy's RE2 refuses it."""
    repo = envoy_repo(tmp_path, kube_env, kube_namespace, proxies=["mesh"])
    backreference = virtual_service("web").replace(
        "    - route:", "    - match: [{uri: {regex: '/(a)\\1'}}]\n      route:"
    )
    repo.commit(mesh(destination_rule("v1"), backreference))
    (refused,) = run(repo, tmp_path / "state")
    assert refused.result == SyncResult.FAILED
    assert refused.detail.startswith("failed: proxy mesh: Envoy rejects the configuration: ")
    assert "nothing was applied" in refused.detail
    assert versions(kube_api, kube_namespace) == {}


def test_an_oversized_configuration_is_refused_before_any_write(
    tmp_path: Path,
    kube_env: TestEnv,
    kube_api: Any,
    kube_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The limit is lowered: a real 1 MiB render takes thousands of services, seconds to
    commit, render and load for what one comparison decides. That the limit is the API
    server's own is shown apart, with dry runs of exactly that many bytes and one more."""
    limit = envoy_configmaps.CONFIGMAP_LIMIT
    core = kubernetes.client.CoreV1Api(kube_api)

    def dry_run(size: int) -> None:
        body = {"metadata": {"name": "big"}, "data": {"a": "x" * (size - 1), "b": "x"}}
        core.create_namespaced_config_map(kube_namespace, body, dry_run="All")

    dry_run(limit)
    with pytest.raises(ApiException) as refused_by_the_server:
        dry_run(limit + 1)
    assert refused_by_the_server.value.status == 422
    monkeypatch.setattr(envoy_configmaps, "CONFIGMAP_LIMIT", 4096)
    repo = envoy_repo(tmp_path, kube_env, kube_namespace, proxies=["mesh"])
    repo.commit(routing())
    (refused,) = run(repo, tmp_path / "state")
    assert refused.result == SyncResult.FAILED
    assert re.fullmatch(
        r"failed: proxy mesh: its Envoy configuration is [\d,]+ bytes, more than a ConfigMap "
        r"holds \(4,096\); nothing was applied",
        refused.detail,
    ), refused.detail
    assert versions(kube_api, kube_namespace) == {}


def test_configmap_names() -> None:
    assert configmap_name("mesh") == "meshrc-envoy-mesh"
    assert configmap_name("shop/web") == "meshrc-envoy-shop-web"
    long_a, long_b = configmap_name("shop/" + "a" * 300), configmap_name("shop/" + "a" * 301)
    assert len(long_a) == len(long_b) == 253 and long_a != long_b
    assert re.fullmatch(r"meshrc-envoy-shop-a+-[0-9a-f]{10}", long_a)
