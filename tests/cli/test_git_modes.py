"""``meshrc check`` reading Git: ``--repo/--ref/--path`` on a real repository (never touching its
work tree), and pull-request mode (``--base/--head``, ``new`` findings, ``--fail-on-new``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import (
    BASE,
    MISSING_SUBSET,
    UNLABELLED_SUBSET,
    Repo,
    findings_of,
    invoke,
    line_of,
    new_repo,
    no_traceback,
)

MESH = {f"mesh/{name}": text for name, text in BASE.items()}

BROKEN_VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: mobile
  namespace: shop
spec:
  hosts:
    - mobile
  http:
    - route:
        - destination:
            host: reviews
            subset: v9
          weight: 100
      timeout: 5s
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: the clean mesh under mesh/ (and junk elsewhere); feature: a broken VirtualService.

    The work tree is left on main, with an uncommitted change that would be an error."""
    repo = new_repo(tmp_path / "repo")
    repo.commit({**MESH, "docs/not-yaml.yaml": "a: [\n"}, "mesh")
    repo.git("tag", "v1.0")
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.commit({"mesh/shop/mobile.yaml": BROKEN_VS}, "mobile routes")
    repo.git("checkout", "--quiet", "main")
    (repo.path / "mesh" / "shop" / "dirty.yaml").write_text(MISSING_SUBSET.format(name="dirty"))
    return repo


def check(*args: str) -> list[str]:
    return ["check", "--no-cache", *args]


def test_ref_and_path(repo: Repo, tmp_path: Path) -> None:
    before = repo.state()
    args = ["--repo", str(repo.path), "--path", "mesh", "-o", "json"]
    clean = invoke(check(*args, "--ref", "main", "--cache-dir", str(tmp_path / "cache")))
    assert clean.exit_code == 0, clean.output
    assert findings_of(clean) == []  # the uncommitted dirty.yaml is not read
    assert json.loads(clean.stdout)["summary"]["files"] == len(BASE)

    broken = invoke(check(*args, "--ref", "feature"))
    assert broken.exit_code == 1, broken.output
    [finding] = findings_of(broken)
    assert (finding["code"], finding["name"]) == ("subset-not-found", "mobile")
    assert finding["file"] == "mesh/shop/mobile.yaml"
    assert finding["line"] == line_of(BROKEN_VS, "subset: v9")
    assert json.loads(broken.stdout)["head"] == repo.git("rev-parse", "feature")

    assert repo.state() == before  # HEAD, status and every work-tree file as they were


@pytest.mark.parametrize(
    ("ref", "code"),
    [("v1.0", 0), ("main", 0), ("feature", 1), ("refs/heads/feature", 1), ("refs/tags/v1.0", 0)],
)
def test_any_kind_of_ref(repo: Repo, ref: str, code: int) -> None:
    result = invoke(check("--repo", str(repo.path), "--ref", ref, "--path", "mesh"))
    assert result.exit_code == code, result.output


def test_commit_ids_as_refs(repo: Repo) -> None:
    feature = repo.git("rev-parse", "feature")
    for ref in (feature, feature[:10]):
        result = invoke(check("--repo", str(repo.path), "--ref", ref, "--path", "mesh"))
        assert result.exit_code == 1, result.output


def test_without_path_the_whole_repository_is_read(repo: Repo) -> None:
    result = invoke(check("--repo", str(repo.path), "--ref", "main", "-o", "json"))
    assert result.exit_code == 1
    assert [(f["code"], f["file"]) for f in findings_of(result)] == [
        ("invalid-yaml", "docs/not-yaml.yaml")
    ]


def test_path_argument_with_ref_reads_git(repo: Repo) -> None:
    """``meshrc check REPO --ref X`` reads the commit, not the folder."""
    result = invoke(check(str(repo.path), "--ref", "main", "--path", "mesh"))
    assert result.exit_code == 0, result.output
    folder = invoke(check(str(repo.path / "mesh")))  # the folder has the dirty file
    assert folder.exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ref", "no-such-branch"], "ref 'no-such-branch' not found"),
        (["--ref", "main", "--path", "no/such/dir"], "no/such/dir"),
        (["--base", "no-such-base", "--head", "feature"], "ref 'no-such-base' not found"),
        (["--base", "main", "--head", "nope", "--fail-on-new"], "ref 'nope' not found"),
    ],
)
def test_unknown_refs_exit_2(repo: Repo, args: list[str], message: str) -> None:
    result = invoke(check("--repo", str(repo.path), *args))
    assert result.exit_code == 2, result.output
    no_traceback(result)
    assert message in result.stderr
    assert result.stdout == ""


def test_not_a_repository_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    result = invoke(check("--repo", str(folder), "--ref", "main"))
    assert result.exit_code == 2
    no_traceback(result)
    assert "no repository at" in result.stderr


# --------------------------------------------------------------------------- pull requests

OLD = MISSING_SUBSET.format(name="legacy")


@pytest.fixture
def pr_repo(tmp_path: Path) -> Repo:
    """main has an old error (legacy); branches on top of it:

    - ``harmless``: moves the old error down the file and adds a clean VirtualService;
    - ``new-error``: adds a second, new error;
    - ``fix``: removes the old error;
    - ``new-warning``: adds a new warning only.
    """
    repo = new_repo(tmp_path / "pr")
    repo.commit({**MESH, "mesh/shop/legacy.yaml": OLD}, "with an old error")
    repo.git("checkout", "--quiet", "-b", "harmless")
    clean = MISSING_SUBSET.format(name="clean").replace("v9", "v1")
    moved = "# legacy routes, to be cleaned up\n# (owner: team shop)\n" + OLD
    repo.commit({"mesh/shop/legacy.yaml": moved, "mesh/shop/clean.yaml": clean}, "harmless")
    repo.git("checkout", "--quiet", "-b", "new-error", "main")
    repo.commit({"mesh/shop/mobile.yaml": BROKEN_VS}, "new error")
    repo.git("checkout", "--quiet", "-b", "fix", "main")
    repo.commit({}, "fix", remove=["mesh/shop/legacy.yaml"])
    repo.git("checkout", "--quiet", "-b", "new-warning", "main")
    repo.commit({"mesh/shop/productpage-dr.yaml": UNLABELLED_SUBSET}, "new warning")
    repo.git("checkout", "--quiet", "main")
    return repo


def pr(repo: Repo, head: str, *args: str) -> list[str]:
    return check("--repo", str(repo.path), "--base", "main", "--head", head, *args)


def test_new_findings_are_marked(pr_repo: Repo) -> None:
    result = invoke(pr(pr_repo, "new-error", "-o", "json"))
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert {(f["name"], f["new"]) for f in document["findings"]} == {
        ("legacy", False),
        ("mobile", True),
    }
    assert document["base"] == pr_repo.git("rev-parse", "main")
    assert document["head"] == pr_repo.git("rev-parse", "new-error")


def test_a_finding_that_moved_is_not_new(pr_repo: Repo) -> None:
    result = invoke(pr(pr_repo, "harmless", "-o", "json"))
    [finding] = findings_of(result)
    assert (finding["name"], finding["new"]) == ("legacy", False)
    assert finding["line"] == line_of(OLD, "subset: v9") + 2  # two comment lines above it


@pytest.mark.parametrize(
    ("head", "fail_on_new", "code"),
    [
        ("new-error", True, 1),
        ("harmless", True, 0),  # the old error is still there, but nothing new
        ("harmless", False, 1),
        ("main", True, 0),
        ("fix", True, 0),
        ("fix", False, 0),
    ],
)
def test_fail_on_new(pr_repo: Repo, head: str, fail_on_new: bool, code: int) -> None:
    flags = ["--fail-on-new"] if fail_on_new else []
    for fmt in ("text", "json", "markdown", "sarif", "github", "junit"):
        result = invoke(pr(pr_repo, head, *flags, "-o", fmt))
        assert result.exit_code == code, (fmt, result.output)


@pytest.mark.parametrize(("fail_on", "code"), [("error", 0), ("warning", 1), ("none", 0)])
def test_fail_on_new_honours_fail_on(pr_repo: Repo, fail_on: str, code: int) -> None:
    """The new finding is a warning; the old error does not count with --fail-on-new."""
    result = invoke(pr(pr_repo, "new-warning", "--fail-on-new", "--fail-on", fail_on, "-o", "json"))
    assert result.exit_code == code
    assert {(f["severity"], f["new"]) for f in findings_of(result)} == {
        ("error", False),
        ("warning", True),
    }


def test_base_defaults_head_to_head_of_the_repository(pr_repo: Repo) -> None:
    pr_repo.git("checkout", "--quiet", "new-error")
    args = check(str(pr_repo.path), "--base", "main", "--fail-on-new", "-o", "json")
    result = invoke(args)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["head"] == pr_repo.git("rev-parse", "new-error")


def test_text_output_marks_new_findings(pr_repo: Repo) -> None:
    result = invoke(pr(pr_repo, "new-error"))
    lines = [line for line in result.stdout.splitlines() if "subset-not-found" in line]
    assert len(lines) == 2
    assert [("[new]" in line) for line in lines] == [False, True]  # legacy.yaml, mobile.yaml
