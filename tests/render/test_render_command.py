"""``meshrc render`` through click's CliRunner: formats, files, summaries and errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cli.helpers import invoke, no_traceback

from reconciler.verify.envoy import validate
from render.meshes import write_mesh

TEMPLATE = Path(__file__).resolve().parents[2] / "repo-template"


def test_bootstrap_to_stdout_runs_in_envoy(tmp_path: Path, envoy_binary: str) -> None:
    result = invoke(["render", str(write_mesh(tmp_path / "m")), "--proxy-namespace", "shop"])
    no_traceback(result)
    assert result.exit_code == 0
    config = yaml.safe_load(result.stdout)
    assert set(config) == {"node", "admin", "static_resources"}
    validate(config, envoy_binary)
    as_json = invoke(["render", str(tmp_path / "m"), "--proxy-namespace", "shop", "-o", "json"])
    assert json.loads(as_json.stdout) == config


def test_the_summary_tables(tmp_path: Path) -> None:
    result = invoke(["render", str(TEMPLATE), "--proxy", "bookinfo/bookinfo-gateway", "--summary"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "ADDRESS  PORT  ROUTE",
        "0.0.0.0  80    http.80",
        "0.0.0.0  443   https.443.https.bookinfo-gateway.bookinfo",
    ]
    productpage = "outbound|9080|v1|productpage.bookinfo.svc.cluster.local"
    for route in ("http.80", "https.443.https.bookinfo-gateway.bookinfo"):
        row = [route, "bookinfo.example.com", "/productpage", productpage]
        assert any(line.split() == row for line in lines), route


def test_xds_files_are_written_whole_and_identical_every_time(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "m")
    out = tmp_path / "xds"
    args = [
        "render",
        str(root),
        "--format",
        "xds",
        "--out",
        str(out),
        "--xds-dir",
        "/etc/envoy/xds",
    ]
    assert invoke(args).exit_code == 0
    first = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert sorted(first) == ["bootstrap.yaml", "cds.yaml", "lds.yaml"]
    assert invoke(args).exit_code == 0
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == first
    assert b"/etc/envoy/xds/lds.yaml" in first["bootstrap.yaml"]


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "m")
    cases = {
        ("--format", "xds"): "meshrc: error: --format xds writes three files: give --out DIR\n",
        (
            "--proxy",
            "shop/none",
        ): "meshrc: error: no Gateway shop/none in the snapshot "
        "(Gateways: shop/passthrough, shop/web)\n",
        ("--endpoints", str(tmp_path / "missing.yaml")): None,
    }
    for args, message in cases.items():
        result = invoke(["render", str(root), *args])
        no_traceback(result)
        assert result.exit_code == 2, args
        if message:
            assert result.stderr == message
    bad = tmp_path / "endpoints.yaml"
    bad.write_text("reviews.shop/v9: [127.0.0.1:1]\n")
    result = invoke(["render", str(root), "--endpoints", str(bad)])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"meshrc: error: {bad}: reviews.shop/v9: no DestinationRule defines subset v9\n"
    )


def test_manifests_with_problems_are_rendered_without_them(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "m")
    (root / "broken.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: x}\nspec: {hosts: 5}\n"
    )
    result = invoke(["render", str(root), "--summary"])
    assert result.exit_code == 0
    assert "1 problem(s) in the manifests; the objects concerned are left out" in result.stderr


def test_an_object_declared_twice_is_not_rendered(tmp_path: Path) -> None:
    """Which copy a cluster would run is unknown: meshrc refuses rather than pick one."""
    root = write_mesh(tmp_path / "m")
    text = (root / "mesh.yaml").read_text(encoding="utf-8")
    first_vs = next(d for d in text.split("---\n") if "kind: VirtualService" in d)
    (root / "again.yaml").write_text(first_vs.replace("weight: 90", "weight: 10"))
    result = invoke(["render", str(root), "--proxy-namespace", "shop", "--summary"])
    no_traceback(result)
    assert result.exit_code == 2
    assert "objects declared twice: VirtualService shop/" in result.stderr
    assert "again.yaml:1" in result.stderr and "mesh.yaml:" in result.stderr
    assert result.stdout == ""
