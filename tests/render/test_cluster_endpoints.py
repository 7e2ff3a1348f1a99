"""Endpoints of Kubernetes Services from a real API server: EndpointSlices and the labels of
the Pods behind them decide which subset cluster an address belongs to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import pytest
from cli.helpers import invoke, no_traceback

from reconciler.errors import RenderError
from reconciler.render.cluster_endpoints import cluster_endpoints
from reconciler.render.options import RenderOptions
from reconciler.render.proxies import render_proxy
from reconciler.testenv import TestEnv
from render.meshes import snapshot_of, write_mesh

MESH = """\
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: NS}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: NS}
spec:
  host: reviews
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
"""


def pod(api: Any, namespace: str, name: str, version: str) -> None:
    body = {
        "metadata": {"name": name, "labels": {"app": "reviews", "version": version}},
        "spec": {"containers": [{"name": "app", "image": "reviews"}]},
    }
    kubernetes.client.CoreV1Api(api).create_namespaced_pod(namespace, body)


def test_endpoints_follow_the_pods_labels(
    tmp_path: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    namespace = kube_namespace
    for name, version in (("reviews-a", "v1"), ("reviews-b", "v2"), ("reviews-c", "v2")):
        pod(kube_api, namespace, name, version)
    endpoints = [
        {
            "addresses": ["10.0.0.1"],
            "targetRef": {"kind": "Pod", "namespace": namespace, "name": "reviews-a"},
        },
        {
            "addresses": ["10.0.0.2"],
            "targetRef": {"kind": "Pod", "namespace": namespace, "name": "reviews-b"},
        },
        {
            "addresses": ["10.0.0.3"],
            "conditions": {"ready": False},  # not ready: no traffic
            "targetRef": {"kind": "Pod", "namespace": namespace, "name": "reviews-c"},
        },
    ]
    kubernetes.client.DiscoveryV1Api(kube_api).create_namespaced_endpoint_slice(
        namespace,
        {
            "metadata": {"name": "reviews-x1", "labels": {"kubernetes.io/service-name": "reviews"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints,
        },
    )
    snapshot = snapshot_of(write_mesh(tmp_path / "mesh", MESH.replace("NS", namespace)))
    table = cluster_endpoints(snapshot, kube_env.kubeconfig, None)
    rendered = render_proxy(snapshot, "mesh", table, RenderOptions(namespace=namespace))
    host = f"reviews.{namespace}.svc.cluster.local"

    def addresses(subset: str) -> list[str]:
        cluster = next(
            c for c in rendered.clusters if c["name"] == f"outbound|9080|{subset}|{host}"
        )
        return [
            f"{e['endpoint']['address']['socket_address']['address']}:{e['endpoint']['address']['socket_address']['port_value']}"
            for group in cluster["load_assignment"]["endpoints"]
            for e in group["lb_endpoints"]
        ]

    assert addresses("") == ["10.0.0.1:8080", "10.0.0.2:8080"]
    assert addresses("v1") == ["10.0.0.1:8080"]
    assert addresses("v2") == ["10.0.0.2:8080"]
    summary = invoke(
        [
            "render",
            str(tmp_path / "mesh"),
            "--proxy-namespace",
            namespace,
            "--kubeconfig",
            str(kube_env.kubeconfig),
            "--summary",
        ]
    )
    no_traceback(summary)
    assert f"outbound|9080|v2|{host}" in summary.stdout and "10.0.0.2:8080" in summary.stdout


def test_an_unreachable_cluster_is_named(tmp_path: Path, kube_env: TestEnv) -> None:
    snapshot = snapshot_of(write_mesh(tmp_path / "mesh", MESH.replace("NS", "shop")))
    kube_env.stop_apiserver()
    try:
        with pytest.raises(
            RenderError, match=r"^Kubernetes API at https://127\.0\.0\.1:\d+ is unreachable$"
        ):
            cluster_endpoints(snapshot, kube_env.kubeconfig, None)
    finally:
        kube_env.start_apiserver()
    with pytest.raises(RenderError, match=r"^kubeconfig: "):
        cluster_endpoints(snapshot, kube_env.kubeconfig, "no-such-context")
