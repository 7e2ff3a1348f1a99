"""Import Istio's analyzer test grid as meshrc parity data: case folders and ``expected.yaml``.

Istio's ``istioctl analyze`` analyzers are tested by one table (``testGrid`` in
``pkg/config/analysis/analyzers/analyzers_test.go``): input YAML files under ``testdata/``, an
optional mesh config, the analyzer under test and the messages it must report. This script
reads that table from a Git directory of istio/istio (a bare mirror will do) at a commit,
copies the input files of every in-scope case into ``cases/<case>/inputs/`` as test data, and
writes the expectations to ``expected.yaml``: re-running it against a newer commit refreshes
the suite. The Go file is only read as data here (parsed with regular expressions); no Istio
code is carried.

    python tests/parity/import_istio.py /work/.mirror/istio+istio/repo [--commit SHA]

Analyzers are in scope unless ``OUT_OF_SCOPE`` names them with a reason: a new Istio analyzer
shows up as unmatched messages until someone decides about it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ANALYZERS = "pkg/config/analysis/analyzers"
GRID = f"{ANALYZERS}/analyzers_test.go"
MESSAGES = "pkg/config/analysis/msg/messages.yaml"
DEFAULTS = "pkg/config/analysis/local/defaults.go"
DEFAULTS_FILE = "istio-default-resources.yaml"
"""Every Istio test case also reads the ingress gateway Pod and Service that
``AddDefaultResources`` adds (unless the mesh config turns ingress off): carried per case."""

OUT_OF_SCOPE: dict[str, str] = {
    "maturity.AlphaAnalyzer": "not registered in All(): istioctl analyze never runs it "
    "(skipAll in the grid)",
    "externalcontrolplane.ExternalControlPlaneAnalyzer": "reads webhook configurations of an "
    "external control plane installation, not mesh configuration",
    "webhook.Analyzer": "reads MutatingWebhookConfigurations of the installation",
    "injection.Analyzer": "sidecar injection state of namespaces and pods: needs the injector "
    "and a live cluster's pods",
    "injection.ImageAnalyzer": "compares injected proxy images with the sidecar-injector "
    "ConfigMap of a live installation",
    "injection.ImageAutoAnalyzer": "depends on injection labels and the injector "
    "(image: auto is resolved at injection)",
    "multicluster.MeshNetworksAnalyzer": "multicluster: reads MeshNetworks and cluster registries",
    "envoyfilter.EnvoyPatchAnalyzer": "EnvoyFilter is out of meshrc's scope (raw Envoy patches)",
    "telemetry.ProviderAnalyzer": "Telemetry is out of meshrc's scope",
    "telemetry.SelectorAnalyzer": "Telemetry is out of meshrc's scope",
    "telemetry.DefaultSelectorAnalyzer": "Telemetry is out of meshrc's scope",
    "telemetry.LightstepAnalyzer": "Telemetry is out of meshrc's scope",
    "k8sgateway.SelectorAnalyzer": "Kubernetes Gateway API (policies selecting a Gateway API "
    "gateway's pods): covered by the Gateway API issue",
    "k8sgateway.CRDVersionAnalyzer": "Kubernetes Gateway API CRD versions of a cluster",
    "conditions.ConditionAnalyzer": "reads status conditions written by controllers in a live "
    "cluster; Git holds no status",
}

CASE_OUT_OF_SCOPE: dict[str, str] = {
    "virtualServiceKubernetesGateways": "a VirtualService bound to a Kubernetes Gateway API "
    "Gateway: covered by the Gateway API issue",
}
"""Cases of in-scope analyzers that still need what meshrc leaves to another issue."""


@dataclass
class GridCase:
    """One entry of Istio's ``testGrid``."""

    name: str
    analyzer: str
    inputs: list[str] = field(default_factory=list)
    mesh_config: str | None = None
    mesh_networks: str | None = None
    expected: list[tuple[str, str]] = field(default_factory=list)
    skip_all: bool = False


def git_show(git_dir: Path, commit: str, path: str) -> bytes:
    """One file of the Istio repository at ``commit``."""
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
    ).stdout


def strip_comments(go: str) -> str:
    """Go source without ``//`` comments (outside string literals)."""
    out: list[str] = []
    for line in go.splitlines():
        in_string = False
        cut = len(line)
        for i, ch in enumerate(line):
            if ch == '"' and (i == 0 or line[i - 1] != "\\"):
                in_string = not in_string
            elif not in_string and line.startswith("//", i):
                cut = i
                break
        out.append(line[:cut])
    return "\n".join(out)


def _entries(body: str) -> list[str]:
    """The top-level ``{...}`` entries of a Go composite literal body."""
    entries: list[str] = []
    depth = 0
    start = 0
    in_string = False
    for i, ch in enumerate(body):
        if ch == '"' and body[i - 1] != "\\":
            in_string = not in_string
        if in_string:
            continue
        if ch == "{":
            if depth == 0:
                start = i + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                entries.append(body[start:i])
            if depth < 0:
                break
    return entries


def _analyzer_name(expr: str) -> str:
    """``&virtualservice.GatewayAnalyzer{}`` -> ``virtualservice.GatewayAnalyzer``; the schema
    wrapper -> ``schema.ValidationAnalyzer.<Kind>`` (Istio's own metadata name)."""
    wrapped = re.search(r"CollectionValidationAnalyzer\(collections\.(\w+)\)", expr)
    if wrapped:
        return f"schema.ValidationAnalyzer.{wrapped.group(1)}"
    plain = re.search(r"&?(\w+)\.(\w+)\{\}", expr)
    if not plain:
        raise ValueError(f"unknown analyzer expression {expr!r}")
    return f"{plain.group(1)}.{plain.group(2)}"


def parse_grid(go: str) -> list[GridCase]:
    """The ``testGrid`` table of ``analyzers_test.go``."""
    text = strip_comments(go)
    start = text.index("var testGrid = []testCase{") + len("var testGrid = []testCase{")
    cases: list[GridCase] = []
    for entry in _entries(text[start:]):
        name = re.search(r'\bname:\s*"([^"]*)"', entry)
        analyzer = re.search(r"\banalyzer:\s*(.+?),\s*\n", entry)
        if not name or not analyzer:
            raise ValueError(f"cannot read grid entry: {entry[:200]!r}")
        case = GridCase(name.group(1), _analyzer_name(analyzer.group(1)))
        inputs = re.search(r"inputFiles:\s*\[\]string\{(.*?)\}", entry, re.S)
        if inputs:
            case.inputs = re.findall(r'"([^"]+)"', inputs.group(1))
        mesh = re.search(r'meshConfigFile:\s*"([^"]+)"', entry)
        case.mesh_config = mesh.group(1) if mesh else None
        networks = re.search(r'meshNetworksFile:\s*"([^"]+)"', entry)
        case.mesh_networks = networks.group(1) if networks else None
        case.expected = re.findall(r'\{\s*msg\.(\w+),\s*"([^"]*)"\s*\}', entry)
        case.skip_all = bool(re.search(r"skipAll:\s*true", entry))
        cases.append(case)
    return cases


def slug(name: str, taken: set[str]) -> str:
    """A folder name for a case: lower-case words joined by ``-``, unique."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", name)
    base = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-") or "case"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def parse_origin(origin: str) -> dict[str, str | None]:
    """``Kind ns/name`` (or ``Kind name`` when the input YAML has no namespace)."""
    kind, _, rest = origin.partition(" ")
    namespace, _, name = rest.rpartition("/")
    return {"kind": kind, "namespace": namespace or None, "name": name}


def render_defaults(template: str, mesh_config: dict[str, Any]) -> str | None:
    """The default ingress gateway resources ``AddDefaultResources`` gives every test case,
    rendered as Istio's test renders them (None when the mesh config turns ingress off)."""
    if str(mesh_config.get("ingressControllerMode", "")).upper() == "OFF":
        return None
    body = re.search(r"const defaultIstioIngressGateway = `(.*?)`", template, re.S)
    if not body:
        raise ValueError("defaults.go: template not found")
    service = str(mesh_config.get("ingressService") or "istio-ingressgateway")
    text = body.group(1).replace("{{.ingressService}}", service)
    return text.replace("{{.namespace}}", "istio-system").lstrip("\n")


def import_grid(git_dir: Path, commit: str, out: Path) -> dict[str, Any]:
    """Write the case folders under ``out/cases`` and return the ``expected.yaml`` document."""
    commit = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", f"{commit}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    grid = parse_grid(git_show(git_dir, commit, GRID).decode())
    catalogue = yaml.safe_load(git_show(git_dir, commit, MESSAGES))["messages"]
    types = {m["name"]: m for m in catalogue}
    template = git_show(git_dir, commit, DEFAULTS).decode()
    cases_dir = out / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    for old in cases_dir.iterdir():
        if old.is_dir():
            shutil.rmtree(old)
    taken: set[str] = set()
    cases: list[dict[str, Any]] = []
    skipped: dict[str, dict[str, Any]] = {}
    for case in grid:
        expected = [
            {
                "code": types[t]["code"],
                "type": t,
                "level": types[t]["level"],
                "resource": parse_origin(origin),
            }
            for t, origin in case.expected
        ]
        reason = OUT_OF_SCOPE.get(case.analyzer) or CASE_OUT_OF_SCOPE.get(case.name)
        if reason is not None:
            entry = skipped.setdefault(
                case.analyzer if case.analyzer in OUT_OF_SCOPE else f"{case.analyzer}: {case.name}",
                {"reason": reason, "cases": [], "messages": 0},
            )
            entry["cases"].append(case.name)
            entry["messages"] += len(expected)
            continue
        name = slug(case.name, taken)
        inputs_dir = cases_dir / name / "inputs"
        inputs_dir.mkdir(parents=True)
        files: list[str] = []
        for path in case.inputs:
            data = git_show(git_dir, commit, f"{ANALYZERS}/{path}")
            target = Path(path).name
            (inputs_dir / target).write_bytes(data)
            files.append(target)
        mesh_config: dict[str, Any] = {}
        record: dict[str, Any] = {"case": name, "istio_name": case.name}
        record["analyzer"] = case.analyzer
        record["inputs"] = [f"{ANALYZERS}/{p}" for p in case.inputs]
        if case.mesh_config:
            data = git_show(git_dir, commit, f"{ANALYZERS}/{case.mesh_config}")
            (cases_dir / name / "meshconfig.yaml").write_bytes(data)
            mesh_config = yaml.safe_load(data) or {}
            record["mesh_config"] = f"{ANALYZERS}/{case.mesh_config}"
        defaults = render_defaults(template, mesh_config)
        if defaults is not None:
            (inputs_dir / DEFAULTS_FILE).write_text(defaults)
        record["istio_defaults"] = defaults is not None
        record["expected"] = expected
        cases.append(record)
    return {
        "source": {
            "repository": "https://github.com/istio/istio",
            "commit": commit,
            "grid": GRID,
            "testdata": f"{ANALYZERS}/testdata",
            "messages": MESSAGES,
            "defaults": DEFAULTS,
            "license": "Apache-2.0",
        },
        "cases": cases,
        "out_of_scope": skipped,
    }


NOTICE = """\
Test data from Istio (https://github.com/istio/istio), Copyright Istio Authors,
licensed under the Apache License, Version 2.0 (the full text is in LICENSE beside this file).

Commit: {commit}

Every folder here is one case of Istio's analyzer test grid
({grid}, testGrid). Its files are copied unchanged:

  <case>/inputs/*.yaml          from {analyzers}/testdata/ (the case's inputFiles;
                                files under testdata/common/ are copied by name)
  <case>/meshconfig.yaml        the case's meshConfigFile, when it has one
  <case>/inputs/{defaults_file}
                                the ingress gateway Pod and Service that Istio's test adds to
                                every case (AddDefaultResources), rendered from the template in
                                {defaults} for namespace istio-system

The expected messages of each case are transcribed in ../expected.yaml.
Only data is carried: no Istio source code. Refresh with ../import_istio.py.
"""


def write_notice(git_dir: Path, commit: str, cases_dir: Path) -> None:
    """Attribution beside the copied data: NOTICE (source, commit, paths) and LICENSE."""
    text = NOTICE.format(
        commit=commit,
        grid=GRID,
        analyzers=ANALYZERS,
        defaults_file=DEFAULTS_FILE,
        defaults=DEFAULTS,
    )
    (cases_dir / "NOTICE").write_text(text)
    (cases_dir / "LICENSE").write_bytes(git_show(git_dir, commit, "LICENSE"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dir", type=Path, help="a Git directory of istio/istio")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    document = import_grid(args.git_dir, args.commit, args.out)
    header = (
        "# Istio analyzer test grid, transcribed by import_istio.py; do not edit by hand.\n"
        "# Source: istio/istio (Apache-2.0), see cases/NOTICE.\n"
    )
    body = yaml.safe_dump(document, sort_keys=False, width=100, allow_unicode=True)
    (args.out / "expected.yaml").write_text(header + body)
    write_notice(args.git_dir, document["source"]["commit"], args.out / "cases")
    total = sum(len(c["expected"]) for c in document["cases"])
    commit = document["source"]["commit"]
    print(f"{len(document['cases'])} cases, {total} expected messages, commit {commit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
