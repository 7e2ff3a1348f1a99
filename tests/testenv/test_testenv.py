"""The test environment is a real API server: it stores and validates Istio resources against
the CRDs' schemas, survives an API server restart with its data, runs from the command line,
and two of them are two clusters."""

from __future__ import annotations

import os
import select
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3
from kubernetes.client.rest import ApiException

from reconciler.testenv import DEFAULT_CRDS, TestEnv, TestEnvError, binaries

VS = ("networking.istio.io", "v1", "virtualservices")
ISTIO_CRDS = {
    f"{plural}.networking.istio.io"
    for plural in (
        "destinationrules",
        "gateways",
        "serviceentries",
        "virtualservices",
        "workloadentries",
    )
}


def virtual_service(name: str, weight: object) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {
            "hosts": ["reviews"],
            "http": [
                {
                    "route": [
                        {"destination": {"host": "reviews", "subset": "v1"}, "weight": weight},
                        {"destination": {"host": "reviews", "subset": "v2"}, "weight": 20},
                    ]
                }
            ],
        },
    }


def client(env: TestEnv) -> Any:
    api = kubernetes.config.new_client_from_config(config_file=str(env.kubeconfig))
    api.configuration.retries = 0  # a refused connection fails at once
    return api


def namespaces(env: TestEnv) -> set[str]:
    with client(env) as api:
        listed = kubernetes.client.CoreV1Api(api).list_namespace()
    return {item.metadata.name for item in listed.items}


def test_the_api_server_answers_with_the_pinned_version(kube_api: Any) -> None:
    version = kubernetes.client.VersionApi(kube_api).get_code()
    assert version.git_version == "v1.34.4"
    listed = kubernetes.client.CoreV1Api(kube_api).list_namespace()
    assert {"default", "kube-system"} <= {item.metadata.name for item in listed.items}


def test_istio_crds_are_installed_and_established(kube_api: Any) -> None:
    crds = kubernetes.client.ApiextensionsV1Api(kube_api).list_custom_resource_definition()
    established = {
        crd.metadata.name
        for crd in crds.items
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    }
    assert established >= ISTIO_CRDS


def test_a_virtual_service_is_stored_and_read_back(kube_api: Any, kube_namespace: str) -> None:
    objects = kubernetes.client.CustomObjectsApi(kube_api)
    objects.create_namespaced_custom_object(
        *VS[:2], kube_namespace, VS[2], virtual_service("reviews", 80)
    )
    stored = objects.get_namespaced_custom_object(*VS[:2], kube_namespace, VS[2], "reviews")
    assert stored["spec"] == virtual_service("reviews", 80)["spec"]
    assert stored["metadata"]["namespace"] == kube_namespace


def test_the_crd_schema_rejects_a_weight_of_the_wrong_type(
    kube_api: Any, kube_namespace: str
) -> None:
    objects = kubernetes.client.CustomObjectsApi(kube_api)
    with pytest.raises(ApiException) as rejected:
        objects.create_namespaced_custom_object(
            *VS[:2], kube_namespace, VS[2], virtual_service("reviews", "eighty")
        )
    assert rejected.value.status == 422
    assert "spec.http[0].route[0].weight" in rejected.value.body
    assert "integer" in rejected.value.body


@pytest.mark.usefixtures("kube_binaries")
def test_stopping_the_api_server_refuses_connections_and_a_restart_keeps_the_data(
    tmp_path: Path,
) -> None:
    with TestEnv(tmp_path, namespaces=["mesh"]) as env, client(env) as api:
        objects = kubernetes.client.CustomObjectsApi(api)
        created = objects.create_namespaced_custom_object(
            *VS[:2], "mesh", VS[2], virtual_service("reviews", 80)
        )
        etcd_pid = env.pids[0]

        env.stop_apiserver()
        with pytest.raises(urllib3.exceptions.MaxRetryError) as refused:
            objects.get_namespaced_custom_object(*VS[:2], "mesh", VS[2], "reviews")
        assert isinstance(refused.value.reason, urllib3.exceptions.NewConnectionError)
        assert "Connection refused" in str(refused.value.reason)

        env.start_apiserver()
        stored = objects.get_namespaced_custom_object(*VS[:2], "mesh", VS[2], "reviews")
        assert stored["metadata"]["uid"] == created["metadata"]["uid"]
        assert stored["spec"] == created["spec"]
        assert env.pids[0] == etcd_pid  # the same etcd all along
    assert not env.pids


def test_two_environments_are_independent_clusters(
    kube_env: TestEnv, kube_env_b: TestEnv, kube_namespace: str
) -> None:
    assert kube_env.server != kube_env_b.server
    assert kube_env.etcd_url != kube_env_b.etcd_url
    assert kube_namespace in namespaces(kube_env)
    assert kube_namespace not in namespaces(kube_env_b)


def test_the_kubeconfig_holds_the_credentials_and_only_the_owner_reads_it(
    kube_env: TestEnv,
) -> None:
    assert stat.S_IMODE(kube_env.kubeconfig.stat().st_mode) == 0o600
    text = kube_env.kubeconfig.read_text()
    assert "client-key-data" in text
    assert "certificate-authority-data" in text


@pytest.mark.usefixtures("kube_binaries")
def test_a_server_that_fails_to_start_is_reported_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "kube-apiserver"
    broken.write_text(
        "#!/bin/sh\necho 'E0101 flag provided but not defined: --bogus' >&2\nexit 1\n"
    )
    broken.chmod(0o755)
    monkeypatch.setenv("MESHRC_KUBE_APISERVER_BINARY", str(broken))
    env = TestEnv(tmp_path / "env")
    with pytest.raises(TestEnvError, match=r"(?s)kube-apiserver exited with code 1.*--bogus"):
        env.start()
    assert not env.pids  # etcd, started first, was stopped


def test_a_missing_binary_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binaries, "CACHE_ROOT", tmp_path / "cache")
    monkeypatch.delenv("MESHRC_ETCD_BINARY", raising=False)
    with pytest.raises(TestEnvError, match=r"etcd v3\.6\.\d+ is not built.*testenv build"):
        TestEnv(tmp_path).start()
    monkeypatch.setenv("MESHRC_ETCD_BINARY", str(tmp_path / "no-such-etcd"))
    with pytest.raises(TestEnvError, match=r"MESHRC_ETCD_BINARY=.* is not an executable file"):
        TestEnv(tmp_path).start()


SMALL_CRD = textwrap.dedent(
    """\
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.example.com}
    spec:
      group: example.com
      scope: Namespaced
      names: {plural: widgets, singular: widget, kind: Widget}
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema:
            type: object
            properties:
              spec: {type: object, properties: {size: {type: integer}}}
    """
)


@pytest.mark.usefixtures("kube_binaries")
def test_up_and_down_from_the_command_line(tmp_path: Path) -> None:
    crds = tmp_path / "widgets.yaml"
    crds.write_text(SMALL_CRD)
    directory = tmp_path / "env"
    command = [sys.executable, "-m", "reconciler.testenv"]
    up = subprocess.Popen(
        [*command, "up", "--dir", str(directory), "--crds", str(crds), "--namespace", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        printed = _read_until(up, b"export KUBECONFIG=", timeout=180)
        kubeconfig = directory / "kubeconfig"
        assert f"export KUBECONFIG={kubeconfig}" in printed
        assert (directory / "testenv.pid").read_text().strip() == str(up.pid)
        with kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) as api:
            listed = kubernetes.client.CoreV1Api(api).list_namespace()
            assert "demo" in {item.metadata.name for item in listed.items}
            crd_names = {
                crd.metadata.name
                for crd in kubernetes.client.ApiextensionsV1Api(api)
                .list_custom_resource_definition()
                .items
            }
            assert crd_names == {"widgets.example.com"}
        servers = _processes_mentioning(directory)
        assert len(servers) == 3  # up, etcd, kube-apiserver

        down = subprocess.run(
            [*command, "down", "--dir", str(directory)], capture_output=True, timeout=60
        )
        assert down.returncode == 0, down.stderr
        assert up.wait(timeout=10) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert not (directory / "testenv.pid").exists()
    assert not _processes_mentioning(directory)
    again = subprocess.run(
        [*command, "down", "--dir", str(directory)], capture_output=True, timeout=60
    )
    assert again.returncode == 0
    assert b"no test environment runs" in again.stderr


def _read_until(process: subprocess.Popen[bytes], marker: bytes, timeout: float) -> str:
    """The process's stdout up to the line with ``marker``; its stderr when it exits first."""
    assert process.stdout is not None and process.stderr is not None
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"`up` printed {out!r}; stderr: {process.stderr.read1().decode()}")
        if select.select([process.stdout], [], [], 0.5)[0]:
            out += os.read(process.stdout.fileno(), 4096)
    return out.decode()


def _processes_mentioning(directory: Path) -> list[int]:
    """Live processes whose command line names ``directory``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(directory).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue  # it ended meanwhile
    return found


def test_the_default_crds_ship_with_the_package() -> None:
    assert DEFAULT_CRDS.is_file()
    assert "virtualservices.networking.istio.io" in DEFAULT_CRDS.read_text()
