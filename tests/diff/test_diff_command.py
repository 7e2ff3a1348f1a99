"""``meshrc diff`` on a real repository, in every format, and its section in ``meshrc check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli.helpers import BASE, ROUTES, Repo, invoke, new_repo, no_traceback
from click.testing import Result

from reconciler.output.diff_writers import MARKER

SPLIT_ROUTES = (
    ROUTES.replace(
        "        version: v1\n",
        "        version: v1\n    - name: v2\n      labels:\n        version: v2\n",
    )
    .replace(
        "            subset: v1\n",
        "            subset: v1\n          weight: 90\n"
        "        - destination:\n            host: reviews\n            subset: v2\n"
        "          weight: 10\n",
    )
    .replace("timeout: 5s", "timeout: 3s")
)
"""The head of the pull request: 10% of reviews to a new subset v2, a shorter timeout."""

EXPECTED_TEXT = """\
reviews.shop.svc.cluster.local
  VirtualService shop/reviews
    v1 100% -> 90%, v2 0% -> 10%
    timeout 5s -> 3s
  DestinationRule shop/reviews
    subset v2 added (version=v2)

3 routing changes for 1 host between base {base} and head {head}.
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: the clean mesh under mesh/; a second commit splits reviews; a README commit."""
    repo = new_repo(tmp_path / "repo")
    repo.commit({f"mesh/{name}": text for name, text in BASE.items()}, "mesh")
    repo.git("tag", "v1")
    repo.commit({"mesh/shop/routes.yaml": SPLIT_ROUTES}, "canary v2")
    repo.commit({"README.md": "# mesh\n"}, "docs")
    return repo


def meshrc(repo: Repo, *args: str, env: dict[str, str] | None = None) -> Result:
    cache = str(repo.path.parent / "cache")
    result = invoke([*args], env={"MESHRC_CACHE_DIR": cache, **(env or {})})
    no_traceback(result)
    return result


def ids(repo: Repo, *refs: str) -> list[str]:
    return [repo.git("rev-parse", ref) for ref in refs]


def test_text(repo: Repo) -> None:
    result = meshrc(repo, "diff", str(repo.path), "--base", "v1")
    assert result.exit_code == 0, result.stderr
    base, head = ids(repo, "v1", "HEAD")
    assert result.stdout == EXPECTED_TEXT.format(base=base[:12], head=head[:12])
    assert result.stderr == ""


def test_json(repo: Repo) -> None:
    result = meshrc(
        repo, "diff", "--repo", str(repo.path), "--base", "v1", "--head", "main", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [document["base"], document["head"]] == ids(repo, "v1", "main")
    [host] = document["hosts"]
    assert host["host"] == "reviews.shop.svc.cluster.local"
    assert host["changes"][0] == {
        "kind": "weights",
        "resource": "VirtualService/shop/reviews",
        "summary": "v1 100% -> 90%, v2 0% -> 10%",
        "before": {"v1": 100.0},
        "after": {"v1": 90.0, "v2": 10.0},
    }
    assert [c["kind"] for c in host["changes"]] == ["weights", "timeout", "subset-added"]


def test_markdown(repo: Repo) -> None:
    result = meshrc(repo, "diff", str(repo.path), "--base", "v1", "-o", "markdown")
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    assert md.startswith(f"{MARKER}\n## meshrc diff: 3 routing changes for 1 host\n")
    assert "### Routing changes\n\n**reviews.shop.svc.cluster.local**\n\n" in md
    assert "- VirtualService shop/reviews\n  - v1 100% -&gt; 90%, v2 0% -&gt; 10%\n" in md
    assert "- DestinationRule shop/reviews\n  - subset v2 added (version=v2)\n" in md


def test_no_routing_changes_still_exit_0(repo: Repo) -> None:
    result = meshrc(repo, "diff", str(repo.path), "--base", "HEAD~1", "--path", "mesh")
    assert result.exit_code == 0
    assert result.stdout.startswith("No routing changes between base ")
    markdown = meshrc(repo, "diff", str(repo.path), "--base", "HEAD~1", "-o", "markdown")
    assert "### Routing changes\n\nNo routing changes.\n" in markdown.stdout


def test_colour_only_when_asked_or_on_a_terminal(repo: Repo) -> None:
    plain = meshrc(repo, "diff", str(repo.path), "--base", "v1")
    assert "\x1b[" not in plain.stdout  # CliRunner is no terminal
    coloured = meshrc(repo, "diff", str(repo.path), "--base", "v1", "--color", "always")
    assert "\x1b[1mreviews.shop.svc.cluster.local\x1b[0m" in coloured.stdout
    never = meshrc(repo, "diff", str(repo.path), "--base", "v1", "--color", "never")
    assert never.stdout == plain.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "nope"], "meshrc: error: ref 'nope' not found in "),
        (["--base", "v1", "--head", "HEAD~9"], "meshrc: error: ref 'HEAD~9' not found in "),
    ],
)
def test_bad_refs_exit_2_with_one_line(repo: Repo, args: list[str], message: str) -> None:
    result = meshrc(repo, "diff", str(repo.path), *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_unreadable_repository_and_bad_arguments_exit_2(repo: Repo, tmp_path: Path) -> None:
    missing = meshrc(repo, "diff", str(tmp_path / "nowhere"), "--base", "v1")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("meshrc: error: no repository at ")
    both = meshrc(repo, "diff", str(repo.path), "--repo", str(repo.path), "--base", "v1")
    assert both.exit_code == 2
    assert "give a repository as PATH or as --repo, not both" in both.stderr
    assert meshrc(repo, "diff", str(repo.path)).exit_code == 2  # --base is required


def test_objects_left_out_are_warned_about(repo: Repo) -> None:
    repo.commit({"mesh/shop/broken.yaml": "a: [\n"}, "broken")
    result = meshrc(repo, "diff", str(repo.path), "--base", "HEAD~1")
    assert result.exit_code == 0
    assert result.stderr == (
        "meshrc: warning: 1 problem reading the manifests at head "
        "(objects left out of the diff; `meshrc check` lists them)\n"
    )


def test_help_teaches_with_examples() -> None:
    result = invoke(["diff", "--help"])
    assert result.exit_code == 0
    for text in ("--base REF", "Examples:", "meshrc diff --base origin/main", "Exit codes:"):
        assert text in result.stdout
    assert "diff" in invoke(["--help"]).stdout


def test_check_markdown_of_a_pull_request_has_the_routing_changes(repo: Repo) -> None:
    args = ["check", str(repo.path), "--base", "v1", "--head", "HEAD", "--only", "python"]
    result = meshrc(repo, *args, "-o", "markdown")
    assert result.exit_code == 0, result.stdout + result.stderr
    md = result.stdout
    assert md.startswith("<!-- meshrc-check -->\n## meshrc check: 1 warning\n")  # no v2 pods
    section = md[md.index("### Routing changes") :]
    assert section.startswith("### Routing changes\n\n**reviews.shop.svc.cluster.local**\n")
    assert "  - timeout 5s -&gt; 3s\n" in section
    assert "Routing changes" not in meshrc(repo, *args, "-o", "text").stdout
