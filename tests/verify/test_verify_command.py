"""``meshrc verify`` through click's CliRunner: formats, exit codes, broken tests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli.helpers import invoke, no_traceback

from verify.traffic_mesh import MESH, route_test

pytestmark = pytest.mark.usefixtures("envoy_binary")

TEMPLATE = Path(__file__).resolve().parents[2] / "repo-template"
JASON = "  request: {authority: web, headers: {x-user: jason}}\n  count: 5\n"
GOOD = route_test("jason", JASON + "  expect: {destinations: {web/v2: 100}}\n")
BAD = route_test("wrong", JASON + "  expect: {destinations: {web/v3: 100}}\n")
INVALID = route_test("broken", "  request: {authority: web}\n  count: -1\n  expect: {}\n")


def mesh(tmp_path: Path, *tests: str) -> Path:
    (tmp_path / "mesh.yaml").write_text(MESH + "".join(tests), encoding="utf-8")
    return tmp_path


def test_the_template_repository_passes_its_route_tests() -> None:
    result = invoke(["verify", str(TEMPLATE)])
    no_traceback(result)
    assert result.exit_code == 0, result.stdout
    assert result.stdout.endswith("7 passed, 0 failed\n")


def test_json_results(tmp_path: Path) -> None:
    result = invoke(["verify", str(mesh(tmp_path, GOOD, BAD)), "-o", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert (document["passed"], document["failed"]) == (1, 1)
    good, bad = document["results"]
    assert set(good) >= {"name", "passed", "expected", "observed", "message"}
    assert good["passed"] is True and good["observed"]["destinations"] == {
        "web.t.svc.cluster.local/v2": 100.0
    }
    assert bad["passed"] is False and bad["message"] == "web/v3: expected 100% ± 5, got 0%"
    assert bad["expected"] == {"destinations": {"web/v3": 100}}


def test_failures_in_every_format(tmp_path: Path) -> None:
    root = mesh(tmp_path, GOOD, BAD)
    junit = ET.fromstring(invoke(["verify", str(root), "-o", "junit"]).stdout)
    cases = {c.get("name"): c for c in junit.iter("testcase")}
    assert cases["wrong"].find("failure") is not None and cases["jason"].find("failure") is None
    github = invoke(["verify", str(root), "-o", "github"]).stdout
    assert (
        f"::error file={root / 'mesh.yaml'}," in github
        and "title=RouteTest wrong::web/v3" in github
    )
    markdown = invoke(["verify", str(root), "-o", "markdown"]).stdout
    assert "**1 passed, 1 failed**" in markdown and "| ❌ | `wrong` |" in markdown
    text = invoke(["verify", str(root), "--color", "always"])
    assert "\x1b[31mFAIL\x1b[0m wrong" in text.stdout and text.exit_code == 1


def test_an_invalid_route_test_fails_with_its_place(tmp_path: Path) -> None:
    result = invoke(["verify", str(mesh(tmp_path, GOOD, INVALID))])
    assert result.exit_code == 1
    assert "FAIL broken" in result.stdout
    assert (
        "invalid RouteTest: spec.count: Input should be greater than or equal to 1" in result.stdout
    )


def test_no_route_tests_is_a_pass(tmp_path: Path) -> None:
    result = invoke(["verify", str(mesh(tmp_path))])
    assert result.exit_code == 0 and result.stdout == "no RouteTest found\n"


def test_no_envoy_exits_2(tmp_path: Path) -> None:
    result = invoke(
        ["verify", str(mesh(tmp_path, GOOD))], env={"MESHRC_ENVOY_BINARY": str(tmp_path / "nope")}
    )
    no_traceback(result)
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"meshrc: error: MESHRC_ENVOY_BINARY={tmp_path / 'nope'} is not an executable file\n"
    )
