"""Rego policies through ``meshrc check`` (click's CliRunner) on tmp folders and repositories:
findings in every format, suppression, --only, --fail-on, meshrc.yaml's policies and params
from a folder and from a commit, --param, and the OPA engines giving the same findings.

meshrc's own pack is left out (--no-builtin-policies): these tests are about the machinery, with
policies of their own, so that they hold whatever the pack says.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli.helpers import (
    BASE,
    MISSING_SUBSET,
    ROUTES,
    findings_of,
    invoke,
    line_of,
    new_repo,
    no_traceback,
    write_tree,
)

from reconciler.output import FORMATS
from reconciler.policy.engines import managed_opa

# Every host of a VirtualService must be fully qualified: one warning on the clean mesh,
# at the line of `- reviews` under the VirtualService's hosts.
FQDN = """\
package team.hosts

# (Not object.get(data, [...]): OPA rejects a rule that reads all of data as recursive.)
default params := {}

params := data.meshrc.params

findings contains {
	"code": "host-not-fqdn",
	"severity": object.get(params, "severity", "warning"),
	"message": sprintf("host %s is not fully qualified%s", [host, suffix]),
	"resource": {"kind": vs.kind, "namespace": vs.metadata.namespace, "name": vs.metadata.name},
	"field": sprintf("spec.hosts[%d]", [i]),
} if {
	some vs in input.resources
	vs.kind == "VirtualService"
	some i, host in vs.spec.hosts
	not contains(host, ".")
	suffix := object.get(params, "suffix", "")
}
"""

# The same finding as the Python check subset-not-found (code, resource and field), and one
# the Python checks do not make.
TWIN = """\
package team.twin

findings contains {
	"code": "subset-not-found",
	"severity": "error",
	"message": "the Rego twin of subset-not-found",
	"resource": {"kind": "VirtualService", "namespace": "shop", "name": "mobile"},
	"field": "spec.http[0].route[0].destination.subset",
}

findings contains {
	"code": "subset-not-found",
	"severity": "error",
	"message": "another field",
	"resource": {"kind": "VirtualService", "namespace": "shop", "name": "mobile"},
	"field": "spec.http[0].route[0].destination.host",
}
"""

HOSTS_LINE = line_of(ROUTES, "    - reviews")  # in shop/routes.yaml


@pytest.fixture
def mesh(tmp_path: Path) -> Path:
    root = tmp_path / "mesh"
    write_tree(root, BASE)
    return root


def policies(tmp_path: Path, files: dict[str, str], name: str = "team") -> Path:
    root = tmp_path / name
    write_tree(root, files)
    return root


def check(*args: str | Path, env: dict[str, str | None] | None = None) -> Any:
    return invoke(
        ["check", "--no-builtin-policies", "--no-cache", *map(str, args)],
        env=env,  # type: ignore[arg-type]
    )


def rego_findings(result: Any) -> list[dict[str, Any]]:
    return [f for f in findings_of(result) if f["source"].startswith("rego:")]


# --------------------------------------------------------------------------- findings


def test_a_rego_finding_is_located_at_its_field(tmp_path: Path, mesh: Path) -> None:
    result = check(mesh, "--policy", policies(tmp_path, {"fqdn.rego": FQDN}), "-o", "json")
    assert result.exit_code == 0, result.output
    [found] = rego_findings(result)
    assert found == {
        "code": "host-not-fqdn",
        "severity": "warning",
        "message": "host reviews is not fully qualified",
        "kind": "VirtualService",
        "namespace": "shop",
        "name": "reviews",
        "file": f"{mesh}/shop/routes.yaml",
        "line": HOSTS_LINE,
        "field": "spec.hosts[0]",
        "source": "rego:team.hosts",
        "istio_code": None,
        "kiali_code": None,
        "new": None,
    }


@pytest.mark.parametrize("output", FORMATS)
def test_rego_findings_in_every_format(tmp_path: Path, mesh: Path, output: str) -> None:
    team = policies(tmp_path, {"fqdn.rego": FQDN})
    result = check(mesh, "--policy", team, "-o", output, "--fail-on", "warning")
    assert result.exit_code == 1, result.output
    text = result.stdout
    message = "host reviews is not fully qualified"
    where = f"shop/routes.yaml:{HOSTS_LINE}"
    if output == "json":
        assert rego_findings(result)[0]["source"] == "rego:team.hosts"
    elif output == "sarif":
        [run] = json.loads(text)["runs"]
        [hit] = [r for r in run["results"] if r["ruleId"] == "host-not-fqdn"]
        assert hit["properties"]["source"] == "rego:team.hosts"
        region = hit["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] == HOSTS_LINE
        assert hit["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(
            "shop/routes.yaml"
        )
    elif output == "junit":
        cases = [
            c for c in ET.fromstring(text).iter("testcase") if "host-not-fqdn" in c.get("name", "")
        ]
        assert len(cases) == 1 and where in ET.tostring(cases[0], encoding="unicode")
    elif output == "github":
        [line] = [x for x in text.splitlines() if "title=host-not-fqdn" in x]
        assert line.startswith("::warning file=") and f"routes.yaml,line={HOSTS_LINE}," in line
        assert message in line
    else:  # text, markdown
        [line] = [x for x in text.splitlines() if "host-not-fqdn" in x]
        assert where in line and message in line


WORKLOAD_LABELS = """\
package team.workloads

deny contains sprintf("Deployment %s has no team label", [r.metadata.name]) if {
	some r in input.resources
	r.kind == "Deployment"
	not r.metadata.labels.team
}
"""


def test_a_policy_that_declares_no_kinds_sees_every_kind_beside_the_pack(
    tmp_path: Path, mesh: Path
) -> None:
    """The pack declares the kinds it reads; a policy that does not still gets them all."""
    team = policies(tmp_path, {"workloads.rego": WORKLOAD_LABELS})
    result = invoke(["check", "--no-cache", str(mesh), "--policy", str(team), "-o", "json"])
    no_traceback(result)
    assert sorted(f["message"] for f in rego_findings(result)) == [
        "Deployment productpage has no team label",
        "Deployment reviews-v1 has no team label",
    ]
    declared = WORKLOAD_LABELS.replace(
        "package", "# METADATA\n# custom:\n#   meshrc:\n#     input_kinds: [Service]\npackage"
    )
    write_tree(team, {"workloads.rego": declared})
    result = invoke(["check", "--no-cache", str(mesh), "--policy", str(team), "-o", "json"])
    assert result.exit_code == 0 and rego_findings(result) == []


def test_deny_strings_are_errors_without_a_place(tmp_path: Path, mesh: Path) -> None:
    team = policies(tmp_path, {"d.rego": 'package conftest.main\n\ndeny contains "no" if true\n'})
    result = check(mesh, "--policy", team, "-o", "json")
    assert result.exit_code == 1
    assert [(f["code"], f["severity"], f["file"], f["source"]) for f in rego_findings(result)] == [
        ("deny", "error", None, "rego:conftest.main")
    ]


# ----------------------------------------------------------------- suppress, --only, --fail-on


@pytest.mark.parametrize(
    "how",
    [
        ["--ignore", "host-not-fqdn"],
        ["--ignore", "host-not-fqdn=VirtualService/shop/rev*"],
        ["--ignore", "*=VirtualService/*/reviews"],
        "annotation",
        "meshrc.yaml",
    ],
)
def test_suppression_applies_to_rego_findings(tmp_path: Path, mesh: Path, how: Any) -> None:
    args: list[str] = []
    if how == "annotation":
        annotated = '  annotations:\n    meshrc.io/ignore: "host-not-fqdn"\n'
        routes = ROUTES.replace(
            "  namespace: shop\nspec:\n  hosts:",
            f"  namespace: shop\n{annotated}spec:\n  hosts:",
        )
        assert routes != ROUTES
        write_tree(mesh, {"shop/routes.yaml": routes})
    elif how == "meshrc.yaml":
        write_tree(mesh, {"meshrc.yaml": "ignore: [host-not-fqdn]\n"})
    else:
        args = how
    team = policies(tmp_path, {"fqdn.rego": FQDN})
    result = check(mesh, "--policy", team, "-o", "json", *args)
    assert result.exit_code == 0, result.output
    assert rego_findings(result) == []
    # ...and only that code (unless the rule says *): another policy's finding stays.
    other = policies(
        tmp_path,
        {"o.rego": FQDN.replace("team.hosts", "team.other").replace('"host-not-fqdn"', '"other"')},
        "other",
    )
    result = check(mesh, "--policy", team, "--policy", other, "-o", "json", *args)
    every_code = isinstance(how, list) and how[1].startswith("*")
    assert [f["code"] for f in rego_findings(result)] == ([] if every_code else ["other"])


@pytest.fixture
def broken_mesh(mesh: Path) -> Path:
    write_tree(mesh, {"shop/mobile.yaml": MISSING_SUBSET.format(name="mobile")})
    return mesh


def test_only_python_and_only_rego(tmp_path: Path, broken_mesh: Path) -> None:
    team = policies(tmp_path, {"fqdn.rego": FQDN})
    both = check(broken_mesh, "--policy", team, "-o", "json")
    python = check(broken_mesh, "--policy", team, "-o", "json", "--only", "python")
    rego = check(broken_mesh, "--policy", team, "-o", "json", "--only", "rego")
    codes = {
        name: sorted(f["code"] for f in findings_of(r))
        for name, r in [("both", both), ("python", python), ("rego", rego)]
    }
    assert codes == {
        "both": ["host-not-fqdn", "host-not-fqdn", "subset-not-found"],
        "python": ["subset-not-found"],
        "rego": ["host-not-fqdn", "host-not-fqdn"],
    }
    assert {f["source"] for f in findings_of(python)} == {"python"}
    assert {f["source"] for f in findings_of(rego)} == {"rego:team.hosts"}
    assert (python.exit_code, rego.exit_code) == (1, 0)


def test_only_rego_without_policies_is_a_usage_error(mesh: Path) -> None:
    result = check(mesh, "--only", "rego")
    assert result.exit_code == 2
    assert "meshrc: error: --only rego, but there are no Rego policies to run" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize(
    ("severity", "fail_on", "code"),
    [
        ("warning", "error", 0),
        ("warning", "warning", 1),
        ("warning", "info", 1),
        ("info", "warning", 0),
        ("info", "info", 1),
        ("error", "error", 1),
        ("error", "none", 0),
    ],
)
def test_fail_on_counts_rego_findings(
    tmp_path: Path, mesh: Path, severity: str, fail_on: str, code: int
) -> None:
    team = policies(tmp_path, {"fqdn.rego": FQDN})
    result = check(mesh, "--policy", team, "--param", f"severity={severity}", "--fail-on", fail_on)
    assert result.exit_code == code, result.output


def test_a_python_finding_and_its_rego_twin_are_reported_once(
    tmp_path: Path, broken_mesh: Path
) -> None:
    team = policies(tmp_path, {"twin.rego": TWIN})
    result = check(broken_mesh, "--policy", team, "-o", "json")
    found = sorted((f["field"], f["source"]) for f in findings_of(result))
    assert found == [
        ("spec.http[0].route[0].destination.host", "rego:team.twin"),
        ("spec.http[0].route[0].destination.subset", "python"),
    ]
    # With only the policies running, the twin is the one reported.
    only = check(broken_mesh, "--policy", team, "-o", "json", "--only", "rego")
    assert sorted(f["message"] for f in findings_of(only)) == [
        "another field",
        "the Rego twin of subset-not-found",
    ]


def test_two_rego_findings_on_one_field_are_both_reported(tmp_path: Path, mesh: Path) -> None:
    """Only a Rego finding repeating a Python one is dropped, never one of two that differ."""
    two = FQDN.replace('"host %s is not fully qualified%s"', '"%s: %s"').replace(
        "findings contains {", "findings contains {"
    )
    team = policies(
        tmp_path,
        {
            "a.rego": FQDN,
            "b.rego": two.replace("package team.hosts", "package team.hosts2"),
        },
    )
    result = check(mesh, "--policy", team, "-o", "json")
    assert sorted(f["message"] for f in rego_findings(result)) == [
        "host reviews is not fully qualified",
        "reviews: ",
    ]


# --------------------------------------------------------------------------- meshrc.yaml


CONFIG = """\
policies: [team-policies]
params:
  severity: error
  suffix: " (from meshrc.yaml)"
"""


def test_meshrc_yaml_policies_and_params_from_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {**BASE, "meshrc.yaml": CONFIG, "team-policies/fqdn.rego": FQDN})
    result = check(root, "-o", "json")
    assert result.exit_code == 1, result.output
    [found] = rego_findings(result)
    assert (found["severity"], found["message"]) == (
        "error",
        "host reviews is not fully qualified (from meshrc.yaml)",
    )
    # --param wins over meshrc.yaml, key by key.
    result = check(root, "-o", "json", "--param", "severity=info")
    [found] = rego_findings(result)
    assert (found["severity"], found["message"]) == (
        "info",
        "host reviews is not fully qualified (from meshrc.yaml)",
    )
    assert result.exit_code == 0


def test_meshrc_yaml_policies_and_params_from_a_commit(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    head = repo.commit({**BASE, "meshrc.yaml": CONFIG, "team-policies/fqdn.rego": FQDN}, "mesh")
    # The work tree differs from the commit: broken policies, other params. Neither is read.
    write_tree(
        repo.path,
        {
            "team-policies/fqdn.rego": "package broken\n\nthis is not rego\n",
            "team-policies/extra.rego": 'package extra\n\ndeny contains "work tree" if true\n',
            "meshrc.yaml": "policies: [team-policies]\nparams: {severity: info}\n",
        },
    )
    result = check("--repo", repo.path, "--ref", "HEAD", "-o", "json")
    assert result.exit_code == 1, result.output
    [found] = rego_findings(result)
    assert (found["severity"], found["message"], found["file"], found["line"]) == (
        "error",
        "host reviews is not fully qualified (from meshrc.yaml)",
        "shop/routes.yaml",
        HOSTS_LINE,
    )
    # The same through the commit id, with --param on top.
    result = check("--repo", repo.path, "--ref", head, "-o", "json", "--param", "suffix=_cli")
    assert [f["message"] for f in rego_findings(result)] == [
        "host reviews is not fully qualified_cli"
    ]


def test_a_policy_folder_of_a_commit_that_does_not_compile_names_the_commit(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    head = repo.commit(
        {
            **BASE,
            "meshrc.yaml": CONFIG,
            "team-policies/bad.rego": "package bad\n\nnot rego at all\n",
        },
        "bad policies",
    )
    result = check("--repo", repo.path, "--ref", "HEAD")
    assert result.exit_code == 2
    assert f"{head[:12]}:team-policies/bad.rego:3" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ("polices: [team]\n", "polices: Extra inputs are not permitted"),
        ("policies: team\n", "policies: Input should be a valid list"),
        ("params: [1, 2]\n", "params: Input should be a valid dictionary"),
        ("failOn: sometimes\n", "failOn: Input should be 'error', 'warning', 'info' or 'none'"),
        ("- just\n- a list\n", "expected a mapping of settings"),
        ("policies: [../outside]\n", "'../outside' must be a path inside the repository"),
    ],
)
def test_a_bad_meshrc_yaml_exits_2_naming_file_and_key(
    tmp_path: Path, config: str, complaint: str
) -> None:
    root = tmp_path / "repo"
    write_tree(root, {**BASE, "meshrc.yaml": config})
    result = check(root)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("meshrc: error: ")
    assert complaint in result.stderr
    if "outside" not in config:
        assert f"{root}/meshrc.yaml: " in result.stderr
    no_traceback(result)


def test_a_bad_meshrc_yaml_in_a_commit_names_the_commit(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    head = repo.commit({**BASE, "meshrc.yaml": "paths: [mesh]\nunknown: 1\n"}, "bad config")
    result = check("--repo", repo.path)
    assert result.exit_code == 2
    assert f"meshrc: error: {head[:12]}:meshrc.yaml: unknown: Extra inputs" in result.stderr
    no_traceback(result)


# --------------------------------------------------------------------------- engines


STYLE = """\
package style

warn contains {"msg": "m", "resource": {"kind": "Service", "namespace": "shop", "name": "reviews"}}
"""


@pytest.fixture(scope="module")
def opa_url(opa_binary: Path) -> Iterator[str]:
    with managed_opa(binary=opa_binary) as url:
        yield url


def engine_check(tmp_path: Path, mesh: Path, *args: str, env: dict[str, str | None]) -> list[Any]:
    write_tree(mesh, {"shop/mobile.yaml": MISSING_SUBSET.format(name="mobile")})
    team = policies(
        tmp_path,
        {
            "fqdn.rego": FQDN,
            "twin.rego": TWIN,
            "data.json": '{"meshrc": {"params": {"suffix": " (data.json)"}}}',
            "style.rego": STYLE,
        },
    )
    result = check(mesh, "--policy", team, "-o", "json", "--param", "severity=info", *args, env=env)
    assert result.exit_code == 1, result.output
    no_traceback(result)
    return findings_of(result)


def test_opa_on_path_gives_the_same_findings_as_embedded(
    tmp_path: Path, mesh: Path, opa_binary: Path
) -> None:
    embedded = engine_check(tmp_path, mesh, "--policy-engine", "embedded", env={})
    by_variable = engine_check(
        tmp_path, mesh, "--policy-engine", "opa", env={"MESHRC_OPA_BINARY": str(opa_binary)}
    )
    on_path = engine_check(
        tmp_path,
        mesh,
        "--policy-engine",
        "opa",
        env={
            "MESHRC_OPA_BINARY": None,
            "PATH": f"{opa_binary.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    )
    assert embedded == by_variable == on_path
    assert len(embedded) == 5
    assert {f["source"] for f in embedded} == {
        "python",
        "rego:team.hosts",
        "rego:team.twin",
        "rego:style",
    }


def test_opa_url_gives_the_same_findings_as_embedded(
    tmp_path: Path, mesh: Path, opa_url: str
) -> None:
    embedded = engine_check(tmp_path, mesh, env={})
    auto = engine_check(tmp_path, mesh, "--opa-url", opa_url, env={})
    explicit = engine_check(tmp_path, mesh, "--policy-engine", "opa", "--opa-url", opa_url, env={})
    assert embedded == auto == explicit


def test_opa_without_a_binary_or_url_exits_2(tmp_path: Path, mesh: Path) -> None:
    team = policies(tmp_path, {"fqdn.rego": FQDN})
    result = check(
        mesh,
        "--policy",
        team,
        "--policy-engine",
        "opa",
        env={"MESHRC_OPA_BINARY": str(tmp_path / "no-opa"), "PATH": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert "--policy-engine opa needs --opa-url or an `opa` binary on PATH" in result.stderr
    no_traceback(result)


def test_embedded_with_an_opa_url_is_a_usage_error(mesh: Path) -> None:
    result = check(mesh, "--policy-engine", "embedded", "--opa-url", "http://127.0.0.1:1")
    assert result.exit_code == 2
    assert "--opa-url needs --policy-engine opa or auto" in result.stderr


def test_the_report_cache_follows_policies_and_params(tmp_path: Path, mesh: Path) -> None:
    team = policies(tmp_path, {"fqdn.rego": FQDN})
    cache = tmp_path / "cache"

    def run(*args: str) -> list[str]:
        result = invoke(
            [
                "check",
                str(mesh),
                "--no-builtin-policies",
                "--cache-dir",
                str(cache),
                "--policy",
                str(team),
                "-o",
                "json",
                *args,
            ]
        )
        return [f["message"] for f in rego_findings(result)]

    assert run() == ["host reviews is not fully qualified"]
    assert run("--param", "suffix=_2") == ["host reviews is not fully qualified_2"]
    write_tree(team, {"fqdn.rego": FQDN.replace("is not fully qualified", "is short")})
    assert run() == ["host reviews is short"]
    assert list((cache / "reports").iterdir())  # the cache was used


def test_pull_request_mode_on_a_managed_opa_matches_embedded(
    tmp_path: Path, opa_binary: Path
) -> None:
    """Base and head are evaluated on one server meshrc started: the bundle is loaded once and
    stays resident for the second query; the result equals the embedded engine's."""
    repo = new_repo(tmp_path / "repo")
    repo.commit({**BASE, "meshrc.yaml": CONFIG, "team-policies/fqdn.rego": FQDN}, "base")
    repo.commit({"shop/mobile.yaml": MISSING_SUBSET.format(name="mobile")}, "head")
    args = ("--repo", repo.path, "--base", "HEAD~1", "--head", "HEAD", "-o", "json", "--no-cache")
    embedded = check(*args, "--policy-engine", "embedded")
    on_opa = check(*args, "--policy-engine", "opa", env={"MESHRC_OPA_BINARY": str(opa_binary)})
    assert embedded.exit_code == on_opa.exit_code == 1, on_opa.output
    assert findings_of(embedded) == findings_of(on_opa)
    marked = {(f["code"], f["name"], f["new"]) for f in findings_of(on_opa)}
    assert ("subset-not-found", "mobile", True) in marked
    assert any(not new for _, _, new in marked)  # the base's own finding is not new
