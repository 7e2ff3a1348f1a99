"""``meshrc check PATH`` through click's CliRunner: exit codes, --fail-on, formats, options,
usage errors, hostile inputs and colour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.codes import CODES
from reconciler.output import FORMATS

from .helpers import (
    MISSING_SUBSET,
    REPEATED_MATCH,
    REPO_TEMPLATE,
    UNLABELLED_SUBSET,
    findings_of,
    invoke,
    line_of,
    mesh_dir,
    no_traceback,
)

JSON_KEYS = {
    "code",
    "severity",
    "message",
    "kind",
    "namespace",
    "name",
    "file",
    "line",
    "field",
    "source",
    "istio_code",
    "new",
}

INPUTS = {
    "clean": {},
    "error": {"shop/mobile.yaml": MISSING_SUBSET.format(name="mobile")},
    "warning": {"shop/productpage-dr.yaml": UNLABELLED_SUBSET},
    "info": {"shop/mobile.yaml": REPEATED_MATCH},
}


@pytest.fixture
def mesh(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    return mesh_dir(tmp_path / "mesh", INPUTS[request.param])


def check(*args: str) -> list[str]:
    return ["check", "--no-cache", *args]


def test_repo_template_is_clean() -> None:
    result = invoke(check(str(REPO_TEMPLATE)))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "No findings in 9 files (24 resources); 1 Role, 1 RoleBinding, 1 ServiceAccount not "
        "checked\n"
    )
    assert result.stderr == ""
    result = invoke(check(str(REPO_TEMPLATE), "-o", "json", "--fail-on", "info"))
    assert result.exit_code == 0
    assert findings_of(result) == []


@pytest.mark.parametrize(
    ("mesh", "fail_on", "code"),
    [
        ("clean", "info", 0),
        ("error", "error", 1),
        ("error", "warning", 1),
        ("error", "info", 1),
        ("error", "none", 0),
        ("warning", "error", 0),
        ("warning", "warning", 1),
        ("warning", "info", 1),
        ("warning", "none", 0),
        ("info", "error", 0),
        ("info", "warning", 0),
        ("info", "info", 1),
        ("info", "none", 0),
    ],
    indirect=["mesh"],
)
def test_exit_code_follows_fail_on(mesh: Path, fail_on: str, code: int) -> None:
    result = invoke(check(str(mesh), "--fail-on", fail_on))
    assert result.exit_code == code, result.output
    no_traceback(result)


def test_default_fail_on_is_error(tmp_path: Path) -> None:
    assert invoke(check(str(mesh_dir(tmp_path / "w", INPUTS["warning"])))).exit_code == 0
    assert invoke(check(str(mesh_dir(tmp_path / "e", INPUTS["error"])))).exit_code == 1


@pytest.mark.parametrize("mesh", sorted(INPUTS), indirect=True)
@pytest.mark.parametrize("fail_on", ["error", "warning", "info"])
def test_every_format_exits_the_same_way(mesh: Path, fail_on: str) -> None:
    codes = {
        fmt: invoke(check(str(mesh), "-o", fmt, "--fail-on", fail_on)).exit_code for fmt in FORMATS
    }
    assert len(set(codes.values())) == 1, codes
    assert set(codes.values()) <= {0, 1}


@pytest.mark.parametrize("mesh", ["error"], indirect=True)
def test_json_finding_has_the_documented_keys(mesh: Path) -> None:
    result = invoke(check(str(mesh), "-o", "json"))
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    [finding] = document["findings"]
    assert set(finding) >= JSON_KEYS
    path = mesh / "shop" / "mobile.yaml"
    text = path.read_text()
    assert {key: finding[key] for key in JSON_KEYS} == {
        "code": "subset-not-found",
        "severity": "error",
        "message": finding["message"],
        "kind": "VirtualService",
        "namespace": "shop",
        "name": "mobile",
        "file": path.as_posix(),
        "line": line_of(text, "subset: v9"),
        "field": "spec.http[0].route[0].destination.subset",
        "source": "python",
        "istio_code": CODES["subset-not-found"].istio_code,
        "new": None,
    }
    assert "'v9'" in finding["message"]
    assert document["summary"]["error"] == 1
    assert (document["base"], document["head"]) == (None, None)


@pytest.mark.parametrize("mesh", ["error"], indirect=True)
def test_text_output_is_grep_friendly(mesh: Path) -> None:
    result = invoke(check(str(mesh)))
    path = mesh / "shop" / "mobile.yaml"
    line = line_of(path.read_text(), "subset: v9")
    assert f"{path.as_posix()}:{line}: error subset-not-found: " in result.stdout
    assert "1 error, 0 warnings, 0 info in 3 files (7 resources)" in result.stdout


def test_ignore_option(tmp_path: Path) -> None:
    mesh = mesh_dir(tmp_path / "mesh", INPUTS["error"])
    assert invoke(check(str(mesh), "--ignore", "subset-not-found")).exit_code == 0
    glob = "subset-not-found=VirtualService/shop/mob*"
    assert invoke(check(str(mesh), "--ignore", glob)).exit_code == 0
    other = "subset-not-found=VirtualService/web/*"
    assert invoke(check(str(mesh), "--ignore", other)).exit_code == 1


def test_namespace_option_is_the_default_namespace(tmp_path: Path) -> None:
    unnamespaced = MISSING_SUBSET.format(name="mobile").replace("  namespace: shop\n", "")
    mesh = mesh_dir(tmp_path / "mesh", {"mobile.yaml": unnamespaced.replace("v9", "v1")})
    # in "default", the short name reviews is reviews.default.svc.cluster.local: not found,
    # and neither is a DestinationRule with its subsets
    result = invoke(check(str(mesh), "-o", "json"))
    assert [f["code"] for f in findings_of(result)] == ["host-not-found", "subset-not-found"]
    assert findings_of(result)[0]["namespace"] == "default"
    assert invoke(check(str(mesh), "--namespace", "shop")).exit_code == 0


def test_max_file_size_option(tmp_path: Path) -> None:
    mesh = mesh_dir(tmp_path / "mesh")
    sizes = {p.as_posix(): p.stat().st_size for p in mesh.rglob("*.yaml")}
    limit = (min(sizes.values()) + max(sizes.values())) // 2
    result = invoke(check(str(mesh), "--max-file-size", str(limit), "-o", "json"))
    assert result.exit_code == 1
    too_big = [f for f in findings_of(result) if f["code"] == "invalid-yaml"]
    assert [f["file"] for f in too_big] == [p for p, size in sizes.items() if size > limit]
    assert [f["message"] for f in too_big] == [
        f"file is {max(sizes.values())} bytes, over the limit of {limit} (--max-file-size)"
    ]
    assert invoke(check(str(mesh), "--max-file-size", "1KiB")).exit_code == 0
    assert invoke(check(str(mesh), "--max-file-size", "0.5KiB")).exit_code == 2


def test_a_single_file_can_be_checked(tmp_path: Path) -> None:
    mesh = mesh_dir(tmp_path / "mesh", INPUTS["error"])
    result = invoke(check(str(mesh / "shop" / "mobile.yaml"), "-o", "json"))
    # alone, the file's reviews host has no Service nor subsets: checked as one snapshot
    assert [f["code"] for f in findings_of(result)] == ["host-not-found", "subset-not-found"]
    assert result.exit_code == 1


# --------------------------------------------------------------------------- could not check


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing"], "does not exist"),
        (["{mesh}", "--ignore", "subset-missing"], "unknown code 'subset-missing'"),
        (["{mesh}", "--ignore", "host-not-found=VirtualService/x"], "Kind/namespace/name"),
        (["{mesh}", "--fail-on-new"], "--fail-on-new needs --base"),
        (["--repo", "{mesh}"], "no repository at"),
        (["--repo", "{tmp}/missing"], ""),
        (["{mesh}", "-o", "xml"], "Invalid value for '-o'"),
        (["{mesh}", "--fail-on", "fatal"], "Invalid value for '--fail-on'"),
        (["{mesh}", "--max-file-size", "lots"], "is not a size"),
    ],
)
def test_could_not_check_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    mesh = mesh_dir(tmp_path / "mesh", INPUTS["error"])
    filled = [a.format(tmp=tmp_path, mesh=mesh) for a in args]
    result = invoke(check(*filled))
    assert result.exit_code == 2, result.output
    no_traceback(result)
    assert result.stdout == ""
    assert message in result.stderr
    assert result.stderr.strip()


@pytest.mark.parametrize(
    ("files", "code", "codes"),
    [
        ({"garbage.yaml": bytes(range(256)) * 4}, 1, ["invalid-yaml"]),
        ({"nul.yaml": b"apiVersion: v1\x00\x00\n"}, 1, ["invalid-yaml"]),
        ({"empty.yaml": b""}, 0, []),
        ({"README.md": b"# no manifests here\n", "data.json": b"{}"}, 0, []),
        ({}, 0, []),
        ({"list.yml": b"- 1\n- 2\n"}, 1, ["schema"]),
    ],
    ids=["binary", "nul", "empty-file", "no-yaml", "empty-dir", "list"],
)
def test_hostile_inputs_never_give_a_traceback(
    tmp_path: Path, files: dict[str, bytes], code: int, codes: list[str]
) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    for fmt in FORMATS:
        result = invoke(check(str(root), "-o", fmt))
        assert result.exit_code == code, (fmt, result.output)
        no_traceback(result)
        assert result.stderr == ""
    result = invoke(check(str(root), "-o", "json"))
    assert [f["code"] for f in findings_of(result)] == codes


# --------------------------------------------------------------------------- colour

ESC = "\x1b["


@pytest.mark.parametrize("mesh", ["error"], indirect=True)
def test_no_colour_when_not_a_terminal(mesh: Path) -> None:
    for args in ([], ["--color", "auto"], ["--color", "never"]):
        result = invoke(check(str(mesh), *args))
        assert result.exit_code == 1
        assert ESC not in result.stdout


@pytest.mark.parametrize("mesh", ["error"], indirect=True)
def test_colour_always(mesh: Path) -> None:
    result = invoke(check(str(mesh), "--color", "always"))
    assert result.exit_code == 1
    assert f"{ESC}31merror{ESC}0m" in result.stdout
    plain = invoke(check(str(mesh), "--color", "never")).stdout
    assert result.stdout != plain
    stripped = result.stdout
    for sgr in ("31", "33", "34", "2", "1", "0"):
        stripped = stripped.replace(f"{ESC}{sgr}m", "")
    assert stripped == plain  # colour changes nothing else
