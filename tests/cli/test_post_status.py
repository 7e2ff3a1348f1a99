"""``meshrc check --post-status github|gitlab|gitea``: the check's result as a commit status.

GitHub's, GitLab's and Gitea's APIs cannot be reached from the tests, so each test starts a
local HTTP server on loopback (http.server in a thread) that implements the documented commit
status endpoints (``POST /repos/{owner}/{repo}/statuses/{sha}`` for GitHub and Gitea,
``POST /projects/{id}/statuses/{sha}`` for GitLab), records every request and answers 201, or
the status a test asks for. The checks themselves run on real Git repositories."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.codes import Severity
from reconciler.findings import Finding, Report
from reconciler.statuses import (
    StatusTarget,
    could_not_check,
    describe,
    repository_from_url,
)

from .helpers import BASE, MISSING_SUBSET, UNLABELLED_SUBSET, Repo, invoke, new_repo, no_traceback

TOKEN = "s3cr3t-status-token-value"
CLEAN = "no findings in 2 files"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StatusServer:
    """A stand-in for the providers' commit status endpoints, on 127.0.0.1."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    answer: int = 201


@pytest.fixture
def server() -> Iterator[StatusServer]:
    state = StatusServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            state.requests.append(
                Recorded("POST", self.path, dict(self.headers.items()), json.loads(raw or b"null"))
            )
            root = self.path.removeprefix("/api/v1")  # Gitea's API root
            documented = root.startswith(("/repos/", "/projects/")) and "/statuses/" in root
            status = state.answer if documented else 404
            payload = json.dumps({"id": 1} if status == 201 else {"message": "Bad credentials"})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


ENV_NAMES = (
    "GITHUB_TOKEN", "GITLAB_TOKEN", "GITEA_TOKEN", "MESHRC_STATUS_TOKEN", "MESHRC_STATUS_API",
    "MESHRC_STATUS_TARGET_URL", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL", "GITHUB_RUN_ID",
    "CI_PROJECT_PATH", "CI_JOB_URL",
)  # fmt: skip


def env(**values: str) -> dict[str, str]:
    """Nothing of the CI around the tests, a loopback without proxies, and ``values``."""
    return {**dict.fromkeys(ENV_NAMES, ""), "NO_PROXY": "*", "no_proxy": "*", **values}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: the clean mesh; broken: one error (a missing subset) and one warning."""
    repo = new_repo(tmp_path / "repo")
    repo.commit(BASE, "mesh")
    repo.git("checkout", "--quiet", "-b", "broken")
    extra = {"shop/mobile.yaml": MISSING_SUBSET.format(name="mobile")}
    repo.commit({**extra, "shop/productpage.yaml": UNLABELLED_SUBSET}, "broken")
    repo.git("checkout", "--quiet", "main")
    return repo


def check(repo: Repo, ref: str, *args: str) -> list[str]:
    return ["check", "--no-cache", "--repo", str(repo.path), "--ref", ref, *args]


def assert_secret_kept(result: Any) -> None:
    no_traceback(result)
    assert TOKEN not in result.stdout
    assert TOKEN not in result.stderr


def test_github_success_and_failure(repo: Repo, server: StatusServer) -> None:
    args = ["--post-status", "github", "--status-api", server.url, "--status-repo", "acme/mesh"]
    clean = invoke(check(repo, "main", *args), env(GITHUB_TOKEN=TOKEN))
    assert clean.exit_code == 0, clean.output
    broken = invoke(check(repo, "broken", *args), env(GITHUB_TOKEN=TOKEN))
    assert broken.exit_code == 1, broken.output
    assert "subset-not-found" in broken.stdout  # the report is written as always
    for result in (clean, broken):
        assert_secret_kept(result)

    first, second = server.requests
    main_sha, broken_sha = repo.git("rev-parse", "main"), repo.git("rev-parse", "broken")
    assert (first.method, first.path) == ("POST", f"/repos/acme/mesh/statuses/{main_sha}")
    assert second.path == f"/repos/acme/mesh/statuses/{broken_sha}"
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert first.headers["Accept"] == "application/vnd.github+json"
    assert first.headers["Content-Type"] == "application/json"
    assert first.body == {"state": "success", "context": "meshrc", "description": CLEAN}
    assert second.body == {
        "state": "failure",
        "context": "meshrc",
        "description": "1 error, 1 warning in 4 files",
    }


def test_github_repository_from_the_remote_url_and_pull_request_head(
    repo: Repo, server: StatusServer
) -> None:
    """--base/--head posts for the head commit; the repository comes from origin's URL."""
    repo.git("remote", "add", "origin", "git@github.com:acme/routing.git")
    args = ["check", "--no-cache", str(repo.path), "--base", "main", "--head", "broken"]
    result = invoke(
        [*args, "--post-status", "github", "--status-api", server.url],
        env(MESHRC_STATUS_TOKEN=TOKEN, GITHUB_REPOSITORY="other/repo"),
    )
    assert result.exit_code == 1, result.output
    assert_secret_kept(result)
    [request] = server.requests
    assert request.path == f"/repos/acme/routing/statuses/{repo.git('rev-parse', 'broken')}"
    assert request.body["state"] == "failure"


def test_github_repository_from_the_environment_and_target_url(
    repo: Repo, server: StatusServer
) -> None:
    values = {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": "acme/from-ci",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "42",
        "MESHRC_STATUS_API": server.url,
    }
    result = invoke(check(repo, "main", "--post-status", "github"), env(**values))
    assert result.exit_code == 0, result.output
    [request] = server.requests
    assert request.path.startswith("/repos/acme/from-ci/statuses/")
    assert request.body["target_url"] == "https://github.com/acme/from-ci/actions/runs/42"


def test_gitlab(repo: Repo, server: StatusServer) -> None:
    args = ["--post-status", "gitlab", "--status-api", server.url]
    args += ["--status-repo", "platform/mesh/routes"]
    clean = invoke(check(repo, "main", *args), env(GITLAB_TOKEN=TOKEN))
    broken = invoke(check(repo, "broken", *args), env(GITLAB_TOKEN=TOKEN))
    assert (clean.exit_code, broken.exit_code) == (0, 1), clean.output + broken.output
    for result in (clean, broken):
        assert_secret_kept(result)
    first, second = server.requests
    sha = repo.git("rev-parse", "main")
    assert first.path == f"/projects/platform%2Fmesh%2Froutes/statuses/{sha}"
    assert first.headers["Private-Token"] == TOKEN
    assert "Authorization" not in first.headers
    assert first.body == {"state": "success", "name": "meshrc", "description": CLEAN}
    assert second.body["state"] == "failed"
    assert second.body["description"] == "1 error, 1 warning in 4 files"


def test_gitea(repo: Repo, server: StatusServer) -> None:
    repo.git("remote", "add", "origin", f"{server.url}/acme/mesh.git")  # on the API's host
    args = ["--post-status", "gitea", "--status-api", f"{server.url}/api/v1"]
    clean = invoke(check(repo, "main", *args), env(GITEA_TOKEN=TOKEN))
    broken = invoke(check(repo, "broken", *args), env(GITEA_TOKEN=TOKEN))
    assert (clean.exit_code, broken.exit_code) == (0, 1), clean.output + broken.output
    for result in (clean, broken):
        assert_secret_kept(result)
    first, second = server.requests
    assert first.path == f"/api/v1/repos/acme/mesh/statuses/{repo.git('rev-parse', 'main')}"
    assert first.headers["Authorization"] == f"token {TOKEN}"
    assert first.body == {"state": "success", "context": "meshrc", "description": CLEAN}
    assert second.body["state"] == "failure"


def test_gitea_needs_an_api(repo: Repo, server: StatusServer) -> None:
    result = invoke(check(repo, "main", "--post-status", "gitea"), env(GITEA_TOKEN=TOKEN))
    assert result.exit_code == 2
    assert "--status-api" in result.stderr
    assert server.requests == []


@pytest.mark.parametrize("answer", [401, 403, 404])
def test_refused_post_is_one_line_without_the_token(
    repo: Repo, server: StatusServer, answer: int
) -> None:
    server.answer = answer
    args = ["--post-status", "github", "--status-api", server.url, "--status-repo", "acme/mesh"]
    result = invoke(check(repo, "broken", *args, "-o", "json"), env(GITHUB_TOKEN=TOKEN))
    assert result.exit_code == 2
    assert_secret_kept(result)
    assert json.loads(result.stdout)["findings"]  # the findings are still reported
    [line] = result.stderr.strip().splitlines()
    host = server.url.removeprefix("http://")
    assert line.startswith(f"meshrc: could not post the commit status to {host}: HTTP {answer}")
    if answer == 401:
        assert "GITHUB_TOKEN" in line


def test_unreachable_api(repo: Repo) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["--post-status", "github", "--status-api", f"http://127.0.0.1:{port}"]
    result = invoke(check(repo, "main", *args, "--status-repo", "a/b"), env(GITHUB_TOKEN=TOKEN))
    assert result.exit_code == 2
    assert_secret_kept(result)
    assert f"could not post the commit status to 127.0.0.1:{port}: unreachable" in result.stderr


def test_needs_a_token_and_a_commit(repo: Repo, server: StatusServer, tmp_path: Path) -> None:
    args = ["--post-status", "github", "--status-api", server.url, "--status-repo", "a/b"]
    no_token = invoke(check(repo, "main", *args), env())
    assert no_token.exit_code == 2
    assert "GITHUB_TOKEN or MESHRC_STATUS_TOKEN" in no_token.stderr

    folder = invoke(["check", "--no-cache", str(repo.path), *args], env(GITHUB_TOKEN=TOKEN))
    assert folder.exit_code == 2
    assert "needs a commit" in folder.stderr
    assert server.requests == []


def test_could_not_check_posts_error(server: StatusServer, monkeypatch: Any) -> None:
    """A check that could not run, of a known commit: the ``error`` state, best effort."""
    for name, value in env(GITHUB_TOKEN=TOKEN).items():
        monkeypatch.setenv(name, value)
    could_not_check("github", "OPA at x is down", "abc123", None, "acme/mesh", server.url)
    [request] = server.requests
    assert request.path == "/repos/acme/mesh/statuses/abc123"
    assert request.body["state"] == "error"
    assert request.body["description"] == "could not check: OPA at x is down"


def test_a_check_that_cannot_run_posts_error_for_its_commit(
    repo: Repo, server: StatusServer
) -> None:
    """The repository's own Rego policy does not compile: exit 2, and the commit's status
    says the check could not run (the error is still the one the user reads)."""
    repo.commit(
        {
            "meshrc.yaml": "policies: [policies]\n",
            "policies/bad.rego": "package bad\n\nbroken :=\n",
        },
        "a policy that does not compile",
    )
    args = ["--post-status", "github", "--status-api", server.url, "--status-repo", "acme/mesh"]
    result = invoke(check(repo, "main", *args), env(GITHUB_TOKEN=TOKEN))
    assert result.exit_code == 2 and result.stderr.startswith("meshrc: error: ")
    assert_secret_kept(result)
    [request] = server.requests
    assert request.path == f"/repos/acme/mesh/statuses/{repo.git('rev-parse', 'main')}"
    assert request.body["state"] == "error"
    assert request.body["description"].startswith("could not check: ")


def test_describe_and_remote_urls() -> None:
    findings = [
        Finding(code="a", message="m", severity=Severity.ERROR),
        Finding(code="b", message="m", severity=Severity.ERROR),
        Finding(code="c", message="m", severity=Severity.WARNING),
    ]
    assert describe(Report.build(findings, checked_files=9)) == "2 errors, 1 warning in 9 files"
    assert describe(Report.build([], checked_files=1)) == "no findings in 1 file"
    long = [Finding(code=f"c{i}", message="m", severity=Severity.INFO) for i in range(10**3)]
    assert len(describe(Report.build(long, checked_files=10**160))) == 140

    assert repository_from_url("https://github.com/acme/mesh.git", "github.com") == "acme/mesh"
    assert repository_from_url("ssh://git@github.com/acme/mesh", "github.com") == "acme/mesh"
    assert repository_from_url("git@github.com:acme/mesh.git", "github.com") == "acme/mesh"
    assert repository_from_url("https://gitlab.com/a/b/c.git", "gitlab.com") == "a/b/c"
    assert repository_from_url("https://example.com/acme/mesh", "github.com") is None
    assert StatusTarget("github", "x", "a/b").repository == "a/b"
