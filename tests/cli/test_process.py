"""A few runs of the installed ``meshrc`` as a real process: exit codes, streams, PR mode from
inside a repository, and colour on a real terminal (a pseudo-terminal)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from .helpers import (
    BASE,
    MISSING_SUBSET,
    REPO_TEMPLATE,
    mesh_dir,
    meshrc_command,
    new_repo,
    run_meshrc,
)


def test_repo_template_exits_0(tmp_path: Path) -> None:
    done = run_meshrc(["check", str(REPO_TEMPLATE)], cwd=tmp_path, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "No findings in 9 files (24 resources); 1 Role, 1 RoleBinding, 1 ServiceAccount not "
        "checked\n"
    )
    assert done.stderr == ""


def test_findings_exit_1_in_every_format(tmp_path: Path) -> None:
    mesh_dir(tmp_path / "mesh", {"shop/m.yaml": MISSING_SUBSET.format(name="m")})
    for fmt in ("text", "json", "sarif"):
        done = run_meshrc(["check", "mesh", "-o", fmt], cwd=tmp_path, cache=tmp_path / "cache")
        assert done.returncode == 1, (fmt, done.stderr)
        assert done.stderr == ""
    done = run_meshrc(["check", "mesh", "-o", "json"], cwd=tmp_path, cache=tmp_path / "cache")
    [finding] = json.loads(done.stdout)["findings"]
    assert (finding["code"], finding["file"]) == ("subset-not-found", "mesh/shop/m.yaml")
    # the parse cache went where MESHRC_CACHE_DIR said
    assert any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["check", "no/such/dir"], "meshrc: error: no/such/dir does not exist\n"),
        (["check", ".", "--ignore", "nope"], "meshrc: error: --ignore 'nope': unknown code"),
        (["check", "--repo", "."], "meshrc: error: no repository at ."),
        (["check", "--bogus"], "No such option '--bogus'"),
    ],
)
def test_could_not_check_exits_2_with_one_message(
    tmp_path: Path, args: list[str], stderr: str
) -> None:
    done = run_meshrc(args, cwd=tmp_path, cache=tmp_path / "cache")
    assert done.returncode == 2
    assert done.stdout == ""
    assert stderr in done.stderr
    assert "Traceback" not in done.stderr


def test_garbage_exits_1_without_traceback(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "garbage.yaml").write_bytes(os.urandom(4096) + b"\xff")
    (root / "empty.yaml").write_bytes(b"")
    done = run_meshrc(["check", "in"], cwd=tmp_path, cache=tmp_path / "cache")
    assert done.returncode == 1
    assert "in/garbage.yaml:1: error invalid-yaml: file is not UTF-8" in done.stdout
    assert done.stderr == ""


def test_pull_request_mode_from_inside_the_repository(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    repo.commit({f"mesh/{n}": t for n, t in BASE.items()}, "mesh")
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.commit({"mesh/shop/m.yaml": MISSING_SUBSET.format(name="m")}, "broken")
    args = ["check", "--base", "main", "--fail-on-new", "-o", "json"]
    done = run_meshrc(args, cwd=repo.path, cache=tmp_path / "cache")  # head defaults to HEAD
    assert done.returncode == 1, done.stderr
    [finding] = json.loads(done.stdout)["findings"]
    assert (finding["file"], finding["new"]) == ("mesh/shop/m.yaml", True)
    same = run_meshrc(
        ["check", "--base", "feature", "--fail-on-new"], cwd=repo.path, cache=tmp_path / "cache"
    )
    assert same.returncode == 0, same.stdout  # the error exists at base: not new
    assert repo.git("status", "--porcelain") == ""


def _on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run meshrc with stdout on a pseudo-terminal; its exit code and what it printed."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [*meshrc_command(), *args],
            cwd=cwd,
            env=env,
            stdout=slave,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = process.wait(timeout=60)
        assert process.stderr is not None
        process.stderr.close()
    finally:
        os.close(master)
    return code, b"".join(chunks).decode()


@pytest.mark.parametrize(
    ("extra_args", "extra_env", "coloured"),
    [
        ([], {}, True),
        (["--color", "never"], {}, False),
        ([], {"NO_COLOR": "1"}, False),
        (["-o", "json"], {}, False),
    ],
)
def test_colour_on_a_terminal(
    tmp_path: Path, extra_args: list[str], extra_env: dict[str, str], coloured: bool
) -> None:
    mesh_dir(tmp_path / "mesh", {"shop/m.yaml": MISSING_SUBSET.format(name="m")})
    env = {**os.environ, "MESHRC_CACHE_DIR": str(tmp_path / "cache"), **extra_env}
    if "NO_COLOR" not in extra_env:
        env.pop("NO_COLOR", None)
    code, output = _on_a_terminal(["check", "mesh", *extra_args], tmp_path, env)
    assert code == 1
    assert "subset-not-found" in output
    assert ("\x1b[31merror\x1b[0m" in output) is coloured
    assert ("\x1b[" in output) is coloured
