"""The Helm chart (charts/mesh-reconciler) with the real, pinned Helm: it lints, it renders what
meshrc needs and nothing more (a non-root, read-only pod; probes; least-privilege RBAC), its
schema refuses bad values, and a real API server accepts every object it renders."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from reconciler.serve.config import load_config
from reconciler.testenv import TestEnv

CHART = Path(__file__).resolve().parents[2] / "charts" / "mesh-reconciler"
KUBE_VERSION = "1.34.4"  # Helm built from its module thinks the cluster is 1.20 without this

# Every optional feature on.
ALL_ON = [
    "opa.enabled=true",
    "serviceMonitor.enabled=true",
    "git.existingSecret=meshrc-git",
    "git.sshKeyKey=ssh-privatekey",
    "webhook.existingSecret=meshrc-webhook",
    "state.existingSecret=meshrc-db",
    "state.passwordKey=password",
    "rbac.clusterWide=true",
]

ISTIO_RESOURCES = {
    "virtualservices",
    "destinationrules",
    "gateways",
    "serviceentries",
    "workloadentries",
}
WRITE = {"get", "list", "watch", "create", "patch", "update", "delete"}
# (apiGroup, resource) -> verbs: exactly what meshrc is granted in its target namespaces.
EXPECTED_RULES = {
    **{("networking.istio.io", resource): WRITE for resource in ISTIO_RESOURCES},
    ("", "configmaps"): WRITE,
    ("", "events"): {"create"},
    ("", "pods"): {"get", "list"},
    ("discovery.k8s.io", "endpointslices"): {"get", "list"},
}
LEADER_ELECTION_RULES = {
    ("coordination.k8s.io", "leases"): {"get", "list", "create", "update", "delete"}
}


def helm(binary: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, check=check, timeout=120
    )


def render(
    binary: Path, *sets: str, namespace: str = "meshrc", release: str = "rel"
) -> list[dict[str, Any]]:
    """`helm template` with ``--set`` values, parsed."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    args += ["--kube-version", KUBE_VERSION]
    for value in sets:
        args += ["--set", value]
    done = helm(binary, *args)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def the(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def containers(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    spec = the(objects, "Deployment")["spec"]["template"]["spec"]
    return {container["name"]: container for container in spec["containers"]}


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def rules_of(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """A Role's rules as (apiGroup, resource) -> verbs; a rule that names several groups or
    resources counts for each."""
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule  # no resourceNames etc.
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


# --------------------------------------------------------------------------- lint and schema


@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
def test_lint_passes(helm_binary: Path, strict: bool) -> None:
    args = ["lint", str(CHART), *(["--strict"] if strict else [])]
    done = helm(helm_binary, *args, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_lint_with_every_option_on(helm_binary: Path) -> None:
    sets = [arg for value in ALL_ON for arg in ("--set", value)]
    done = helm(helm_binary, "lint", "--strict", str(CHART), *sets, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("replicaCount=two", "/replicaCount"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("rbac.clusterWide=maybe", "/rbac/clusterWide"),
        ("service.port=70000", "/service/port"),
        ("replicas=2", "replicas"),  # a misspelt key, not silently ignored
    ],
)
def test_schema_refuses_bad_values(helm_binary: Path, value: str, where: str) -> None:
    args = ["template", "rel", str(CHART), "--kube-version", KUBE_VERSION, "--set", value]
    done = helm(helm_binary, *args, check=False)
    assert done.returncode != 0
    assert "schema" in done.stderr
    assert where in done.stderr


def test_values_file_matches_its_schema_and_documents_every_key() -> None:
    """The schema names every key of values.yaml, and every key has a comment right above it,
    or above a key it belongs to (`resources.requests`), or opens a group of keys that do
    (`image:`)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented) down to this key
    for number, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z]\w*):(.*)$", line)
        if match is None:
            continue
        indent, key, rest = len(match[1]), match[2], match[3].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = number > 0 and lines[number - 1].strip().startswith("#")
        stack.append((indent, key, documented))
        node: dict[str, Any] = schema
        for _, step, _ in stack:
            if "properties" not in node:
                break  # inside a free-form map: its keys are examples, not the chart's
            assert step in node["properties"], f"values.yaml:{number + 1}: schema lacks {step}"
            node = node["properties"][step]
        following = lines[number + 1] if number + 1 < len(lines) else ""
        opens_group = not rest and following.startswith(" " * (indent + 2) + "#")
        assert documented or opens_group or any(flag for _, _, flag in stack), (
            f"values.yaml:{number + 1}: {key} has no comment"
        )


def test_chart_readme_lists_every_value() -> None:
    readme = (CHART / "README.md").read_text()

    groups = {"image", "git", "webhook", "state", "opa", "serviceAccount", "rbac", "service"}
    # the others (resources, probes...) are values as a whole
    groups |= {"serviceMonitor", "leaderElection"}

    def paths(values: dict[str, Any], prefix: str) -> Iterator[str]:
        for key, value in values.items():
            if key in groups:
                yield from paths(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [path for path in paths(values, "") if f"| `{path}` |" not in readme]
    assert not missing


# --------------------------------------------------------------------------- rendering


def test_defaults_render_a_locked_down_pod(helm_binary: Path) -> None:
    objects = render(helm_binary)
    kinds = sorted(obj["kind"] for obj in objects)
    expected = ["ConfigMap", "Deployment", "Role", "Role", "RoleBinding", "RoleBinding"]
    assert kinds == [*expected, "Service", "ServiceAccount"]
    assert all(obj["metadata"].get("namespace", "meshrc") == "meshrc" for obj in objects)
    deployment = the(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["serviceAccountName"] == the(objects, "ServiceAccount")["metadata"]["name"]

    (meshrc,) = pod["containers"]  # no OPA sidecar unless enabled
    assert meshrc["command"] + meshrc["args"] == [
        "meshrc",
        "serve",
        "--config",
        "/etc/meshrc/serve.yaml",
    ]
    assert meshrc["image"] == "mesh-reconciler:0.1.0"  # the chart's appVersion
    security = meshrc["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert meshrc["resources"]["requests"] and meshrc["resources"]["limits"]

    (port,) = meshrc["ports"]
    assert port == {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    assert meshrc["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert meshrc["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

    # /tmp and the state dir are writable emptyDirs; the configuration is mounted read-only
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in meshrc["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert "emptyDir" in volumes[mounts["/var/lib/meshrc"]["name"]]
    assert mounts["/etc/meshrc/serve.yaml"]["readOnly"] is True
    config = the(objects, "ConfigMap")
    assert volumes["config"]["configMap"]["name"] == config["metadata"]["name"]
    assert "serve.yaml" in config["data"]

    env = env_of(meshrc)
    assert env["MESHRC_STATE_DIR"]["value"] == "/var/lib/meshrc"
    assert not {"MESHRC_STATE", "MESHRC_OPA_URL", "MESHRC_GIT_TOKEN"} & set(env)

    service = the(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_defaults_grant_exactly_what_meshrc_uses(helm_binary: Path) -> None:
    objects = render(helm_binary)
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding")
    roles = {role["metadata"]["name"]: role for role in by_kind(objects, "Role")}
    main = roles["rel-mesh-reconciler"]
    assert main["metadata"]["namespace"] == "meshrc"  # the release namespace by default
    assert rules_of(main) == EXPECTED_RULES
    leader = roles["rel-mesh-reconciler-leader-election"]
    assert rules_of(leader) == LEADER_ELECTION_RULES
    account = the(objects, "ServiceAccount")["metadata"]["name"]
    for binding in by_kind(objects, "RoleBinding"):
        assert binding["roleRef"]["name"] in roles
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": "meshrc"}
        ]


def test_roles_per_target_namespace(helm_binary: Path) -> None:
    objects = render(helm_binary, "rbac.namespaces={bookinfo,shop}")
    main = [r for r in by_kind(objects, "Role") if not r["metadata"]["name"].endswith("election")]
    assert sorted(role["metadata"]["namespace"] for role in main) == ["bookinfo", "shop"]
    assert all(rules_of(role) == EXPECTED_RULES for role in main)
    bindings = by_kind(objects, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["bookinfo", "meshrc", "shop"]


def test_every_option_on(helm_binary: Path) -> None:
    objects = render(helm_binary, *ALL_ON)

    # cluster-wide RBAC: one ClusterRole with the same rules, bound to meshrc's account
    cluster_role = the(objects, "ClusterRole")
    assert rules_of(cluster_role) == EXPECTED_RULES
    binding = the(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": cluster_role["metadata"]["name"],
    }
    assert binding["subjects"][0]["namespace"] == "meshrc"
    (leader,) = by_kind(objects, "Role")  # leader election stays in the release namespace
    assert rules_of(leader) == LEADER_ELECTION_RULES

    # the OPA sidecar, on loopback, locked down like meshrc; meshrc is told where it is
    pods = containers(objects)
    assert set(pods) == {"meshrc", "opa"}
    opa = pods["opa"]
    assert opa["args"] == ["run", "--server", "--addr", "127.0.0.1:8181"]
    assert opa["image"].startswith("openpolicyagent/opa:")
    assert opa["securityContext"]["readOnlyRootFilesystem"] is True
    assert not opa.get("ports")  # nothing of OPA's is exposed
    env = env_of(pods["meshrc"])
    assert env["MESHRC_OPA_URL"]["value"] == "http://127.0.0.1:8181"

    # secrets come from references, never values
    def ref(name: str) -> tuple[str, str]:
        key_ref = env[name]["valueFrom"]["secretKeyRef"]
        return key_ref["name"], key_ref["key"]

    assert ref("MESHRC_STATE") == ("meshrc-db", "url")
    assert ref("PGPASSWORD") == ("meshrc-db", "password")
    assert ref("MESHRC_GIT_TOKEN") == ("meshrc-git", "token")
    assert ref("MESHRC_GIT_USERNAME") == ("meshrc-git", "username")
    assert ref("MESHRC_GIT_PASSWORD") == ("meshrc-git", "password")
    assert ref("MESHRC_GIT_SSH_PASSPHRASE") == ("meshrc-git", "ssh-passphrase")
    assert ref("MESHRC_WEBHOOK_SECRET") == ("meshrc-webhook", "webhook-secret")
    assert all("value" not in env[name] for name in env if name.startswith("MESHRC_GIT_T"))
    # the ssh key is a file (MESHRC_GIT_SSH_KEY is a path), mounted read-only
    assert env["MESHRC_GIT_SSH_KEY"]["value"] == "/etc/meshrc/git/ssh-key"
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    (ssh,) = [volume for volume in pod["volumes"] if "secret" in volume]
    assert ssh["secret"]["secretName"] == "meshrc-git"
    assert ssh["secret"]["items"] == [{"key": "ssh-privatekey", "path": "ssh-key"}]
    assert ssh["secret"]["defaultMode"] == 0o400

    monitor = the(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service_labels = the(objects, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()


def test_command_and_config_are_values(helm_binary: Path) -> None:
    objects = render(
        helm_binary,
        "args={serve,--config,/etc/meshrc/serve.yaml,--verbose}",
        "config.repositories[0].name=mesh",
        "config.repositories[0].url=https://git.example.com/mesh.git",
        "replicaCount=2",
    )
    meshrc = containers(objects)["meshrc"]
    assert meshrc["args"][-1] == "--verbose"
    served = yaml.safe_load(the(objects, "ConfigMap")["data"]["serve.yaml"])
    assert served == {
        "repositories": [{"name": "mesh", "url": "https://git.example.com/mesh.git"}],
        # several pods: on by default, its Leases in the release namespace
        "leaderElection": {"namespace": "meshrc", "leaseDuration": "15s", "renewPeriod": "5s"},
    }
    env = {e["name"]: e.get("value") for e in meshrc["env"]}
    assert (env["MESHRC_HOST"], env["MESHRC_PORT"]) == ("0.0.0.0", "8080")  # reachable in the pod
    assert the(objects, "Deployment")["spec"]["replicas"] == 2

    existing = render(helm_binary, "existingConfigMap=my-serve-config")
    assert not by_kind(existing, "ConfigMap")
    pod = the(existing, "Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "my-serve-config"


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ((), None),  # one pod: no election
        (("leaderElection.enabled=true",), "12s"),
        (("replicaCount=3", "leaderElection.enabled=false"), None),
    ],
)
def test_leader_election_is_rendered_into_serve_yaml(
    helm_binary: Path, tmp_path: Path, sets: tuple[str, ...], expected: str | None
) -> None:
    objects = render(helm_binary, *sets, "leaderElection.leaseDuration=12s")
    text = the(objects, "ConfigMap")["data"]["serve.yaml"]
    (tmp_path / "serve.yaml").write_text(text)
    election = load_config(tmp_path / "serve.yaml").leader_election  # meshrc reads it
    assert (election and election.lease_duration) == expected
    if election:
        assert (election.namespace, election.renew_period) == ("meshrc", "5s")


def test_nothing_grants_wildcards(helm_binary: Path) -> None:
    for sets in ([], ALL_ON, ["rbac.namespaces={a,b}"]):
        for obj in render(helm_binary, *sets):
            for rule in obj.get("rules", []):
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule[field], (obj["metadata"]["name"], rule)


# --------------------------------------------------------------------------- a real API server

SERVICE_MONITOR_CRD = {
    # A minimal stand-in for the Prometheus Operator's CRD: same group, kind and version, any
    # spec (the operator's full schema is not needed to show the object is well-formed).
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "listKind": "ServiceMonitorList",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def service_monitor_crd(kube_api: Any) -> Iterator[None]:
    """The ServiceMonitor CRD (minimal), Established, in ``kube_env`` for this module."""
    extensions = kubernetes.client.ApiextensionsV1Api(kube_api)
    name = SERVICE_MONITOR_CRD["metadata"]["name"]  # type: ignore[index]
    try:
        extensions.create_custom_resource_definition(SERVICE_MONITOR_CRD)
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:  # another run installed it already
            raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        crd = extensions.read_custom_resource_definition(name)
        conditions = crd.status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"{name} not Established in 30 s")
    yield
    # The API server is shared by the session: leave it with Istio's CRDs only (the API server
    # itself finishes the deletion, no controller needed).
    extensions.delete_custom_resource_definition(name)


def apply_all(api: Any, objects: list[dict[str, Any]]) -> list[str]:
    """Server-side apply every object; what the API server now holds, as kind/namespace/name."""
    dynamic = kubernetes.dynamic.DynamicClient(api)
    applied = []
    for obj in objects:
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        namespace = obj["metadata"].get("namespace")
        name = obj["metadata"]["name"]
        resource.server_side_apply(
            body=obj, name=name, namespace=namespace, field_manager="meshrc-chart-test"
        )
        held = resource.get(name=name, namespace=namespace)
        applied.append(f"{held.kind}/{held.metadata.namespace or ''}/{held.metadata.name}")
    return applied


def test_api_server_accepts_the_defaults(
    helm_binary: Path, kube_api: Any, kube_namespace: str
) -> None:
    objects = render(helm_binary, namespace=kube_namespace, release="d")
    applied = apply_all(kube_api, objects)
    assert len(applied) == len(objects) == 8
    deployment = kubernetes.client.AppsV1Api(kube_api).read_namespaced_deployment(
        "d-mesh-reconciler", kube_namespace
    )
    pod = deployment.spec.template.spec
    assert pod.security_context.run_as_non_root is True
    assert pod.containers[0].security_context.read_only_root_filesystem is True


def test_api_server_accepts_every_option(
    helm_binary: Path, kube_api: Any, kube_namespace: str, service_monitor_crd: None
) -> None:
    """Every rendered object, the ServiceMonitor included (against a minimal CRD), and the
    cluster-wide RBAC, which the API server checks for escalation (the admin holds it all)."""
    release = f"a{secrets.token_hex(3)}"  # cluster-scoped names must not clash across runs
    core = kubernetes.client.CoreV1Api(kube_api)
    for name in ("meshrc-git", "meshrc-webhook", "meshrc-db"):
        core.create_namespaced_secret(
            kube_namespace, {"metadata": {"name": name}, "stringData": {"token": "x"}}
        )
    objects = render(helm_binary, *ALL_ON, namespace=kube_namespace, release=release)
    applied = apply_all(kube_api, objects)
    assert len(applied) == len(objects)
    assert f"ServiceMonitor/{kube_namespace}/{release}-mesh-reconciler" in applied
    assert f"ClusterRole//{release}-mesh-reconciler" in applied
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube_api)
    role = rbac.read_cluster_role(f"{release}-mesh-reconciler")
    assert {resource for rule in role.rules for resource in rule.resources} == {
        resource for _, resource in EXPECTED_RULES
    }
    deployment = kubernetes.client.AppsV1Api(kube_api).read_namespaced_deployment(
        f"{release}-mesh-reconciler", kube_namespace
    )
    assert [c.name for c in deployment.spec.template.spec.containers] == ["meshrc", "opa"]


def test_helm_install_into_the_api_server(
    helm_binary: Path, kube_env: TestEnv, kube_api: Any, kube_namespace: str
) -> None:
    """`helm install` itself, against the real API server (which also checks the chart's
    kubeVersion), with roles in a second namespace; NOTES.txt says where meshrc may apply."""
    target = f"{kube_namespace}-t"
    kubernetes.client.CoreV1Api(kube_api).create_namespace({"metadata": {"name": target}})
    done = helm(
        helm_binary,
        "install",
        "inst",
        str(CHART),
        "--namespace",
        kube_namespace,
        "--kubeconfig",
        str(kube_env.kubeconfig),
        "--set",
        f"rbac.namespaces={{{kube_namespace},{target}}}",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "STATUS: deployed" in done.stdout
    assert f"meshrc may apply Istio routing in: {kube_namespace}, {target}." in done.stdout
    rbac = kubernetes.client.RbacAuthorizationV1Api(kube_api)
    role = rbac.read_namespaced_role("inst-mesh-reconciler", target)
    assert {(rule.api_groups[0], rule.resources[0]) for rule in role.rules} <= set(EXPECTED_RULES)
