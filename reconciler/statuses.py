"""Commit statuses: ``meshrc check --post-status github|gitlab|gitea`` posts the result of a
check of a commit to the Git host's REST API, so that the commit (and its pull request) shows a
green, red or grey "meshrc" status.

    GitHub   POST {api}/repos/{owner}/{repo}/statuses/{sha}      Authorization: Bearer <token>
    GitLab   POST {api}/projects/{url-encoded path}/statuses/{sha}   PRIVATE-TOKEN: <token>
    Gitea    POST {api}/repos/{owner}/{repo}/statuses/{sha}      Authorization: token <token>

The token comes from the environment only (``MESHRC_STATUS_TOKEN``, else ``GITHUB_TOKEN``,
``GITLAB_TOKEN`` or ``GITEA_TOKEN``) and never appears in a message. httpx is not a dependency;
the standard library's urllib does the one POST, without following redirects (a redirect would
carry the token to another host).

A status that cannot be posted never hides the check's result: the report has already been
written when it is posted; the failure is one line on stderr naming the API host, and the exit
code becomes 2 (could not check), because the commit does not show the result.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import click

from reconciler.codes import Severity
from reconciler.errors import MeshrcError
from reconciler.findings import ExitCode, Report

PROVIDERS = ("github", "gitlab", "gitea")
CONTEXT = "meshrc"
MAX_DESCRIPTION = 140
TIMEOUT = 10.0

_TOKEN_VARS = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}
_DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
_DEFAULT_HOST = {"github": "github.com", "gitlab": "gitlab.com"}
_STATES = {
    "github": {0: "success", 1: "failure", 2: "error"},
    "gitea": {0: "success", 1: "failure", 2: "error"},
    "gitlab": {0: "success", 1: "failed", 2: "failed"},  # GitLab has no "error" state
}
_SCP_URL = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


class StatusError(MeshrcError):
    """The commit status could not be posted; the message names the API host, never the token."""


@dataclass(frozen=True)
class StatusTarget:
    """Where a status goes: the provider, its API root and the repository (owner/name)."""

    provider: str
    api: str
    repository: str


def describe(report: Report) -> str:
    """The status description: "2 errors, 1 warning in 9 files", or "no findings"."""
    counts = report.counts()
    parts = [
        f"{n} {severity.value}{'' if n == 1 else 's'}"
        for severity, n in counts.items()
        if n and severity in (Severity.ERROR, Severity.WARNING, Severity.INFO)
    ]
    files = report.checked_files
    where = f" in {files} file{'' if files == 1 else 's'}"
    text = (", ".join(parts) if parts else "no findings") + where
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def repository_from_url(url: str, host: str) -> str | None:
    """``owner/name`` (or ``group/sub/name``) of a remote URL on ``host``, else None."""
    if "://" in url:
        parts = urlsplit(url)
        url_host, path = (parts.hostname or ""), parts.path
    else:
        match = _SCP_URL.match(url)
        if not match:
            return None
        url_host, path = match["host"], match["path"]
    if url_host.lower() != host.lower():
        return None
    path = path.strip("/")
    path = path.removesuffix(".git")
    return path if path.count("/") >= 1 else None


def _remote_url(location: str | None) -> str | None:
    """The URL of the repository checked: ``--repo URL`` itself, or a local clone's origin."""
    if not location:
        return None
    if location.startswith("file://"):
        location = urlsplit(location).path
    elif "://" in location or (_SCP_URL.match(location) and not os.path.exists(location)):
        return location
    try:
        done = subprocess.run(
            ["git", "-C", location, "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def resolve_target(
    provider: str, location: str | None, repository: str | None, api: str | None
) -> StatusTarget:
    """The API root and repository: options first, then the remote URL, then the CI's
    environment (GITHUB_REPOSITORY, also set by Gitea Actions; CI_PROJECT_PATH on GitLab)."""
    api = (api or os.environ.get("MESHRC_STATUS_API") or _DEFAULT_API.get(provider, "")).rstrip("/")
    if not api:
        raise StatusError(f"--post-status {provider} needs --status-api URL (or MESHRC_STATUS_API)")
    if not repository:
        remote = _remote_url(location)
        hosts = [_DEFAULT_HOST.get(provider), urlsplit(api).hostname]
        found = (repository_from_url(remote, h) for h in hosts if remote and h)
        repository = next((r for r in found if r), None)
    if not repository:
        env = "CI_PROJECT_PATH" if provider == "gitlab" else "GITHUB_REPOSITORY"
        repository = os.environ.get(env) or None
    if not repository or "/" not in repository.strip("/"):
        raise StatusError(
            f"--post-status {provider}: which repository? Use --status-repo owner/name"
        )
    return StatusTarget(provider, api, repository.strip("/"))


def _token(provider: str) -> str:
    name = _TOKEN_VARS[provider]
    token = os.environ.get("MESHRC_STATUS_TOKEN") or os.environ.get(name)
    if not token:
        raise StatusError(
            f"--post-status {provider} needs a token in {name} or MESHRC_STATUS_TOKEN"
        )
    return token.strip()


def request_for(
    target: StatusTarget, sha: str, code: int, description: str, token: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL, headers and JSON body of the POST."""
    state = _STATES[target.provider][code]
    body = {"state": state, "description": _clip(description)}
    target_url = _target_url(target.provider)
    if target.provider == "gitlab":
        project = quote(target.repository, safe="")
        url = f"{target.api}/projects/{project}/statuses/{sha}"
        headers = {"PRIVATE-TOKEN": token}
        body["name"] = CONTEXT
    else:
        owner, _, name = target.repository.partition("/")
        url = f"{target.api}/repos/{quote(owner, safe='')}/{quote(name, safe='')}/statuses/{sha}"
        scheme = "Bearer" if target.provider == "github" else "token"
        headers = {"Authorization": f"{scheme} {token}"}
        if target.provider == "github":
            headers["Accept"] = "application/vnd.github+json"
            headers["X-GitHub-Api-Version"] = "2022-11-28"
        body["context"] = CONTEXT
    if target_url:
        body["target_url"] = target_url
    headers["Content-Type"] = "application/json"
    headers["User-Agent"] = "meshrc"
    return url, headers, body


def _target_url(provider: str) -> str | None:
    """A link back to the CI run, when meshrc runs in one."""
    env = os.environ
    if env.get("MESHRC_STATUS_TARGET_URL"):
        return env["MESHRC_STATUS_TARGET_URL"]
    if provider == "gitlab":
        return env.get("CI_JOB_URL") or None
    server, repo, run = (
        env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None  # a 3xx becomes an HTTPError: the token never follows a redirect


def post(target: StatusTarget, sha: str, code: int, description: str) -> None:
    """POST the status; any failure becomes a StatusError naming the API host."""
    token = _token(target.provider)
    url, headers, body = request_for(target, sha, code, description, token)
    host = urlsplit(url).netloc.rpartition("@")[2] or url
    where = f"could not post the commit status to {host}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise StatusError(f"{where}: HTTP {exc.code} ({_explain(exc.code, target)})") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise StatusError(f"{where}: unreachable ({str(reason).replace(token, '***')})") from None


def _explain(status: int, target: StatusTarget) -> str:
    var = _TOKEN_VARS[target.provider]
    if status == 401:
        return f"the token was refused; check {var} or MESHRC_STATUS_TOKEN"
    if status == 403:
        return "the token may not set commit statuses on this repository"
    if status == 404:
        return f"no repository {target.repository} or commit there, or the token cannot see it"
    if 300 <= status < 400:
        return "a redirect, not followed; check --status-api"
    return "the API refused the status"


def after_check(
    provider: str | None,
    report: Report,
    code: int,
    sha: str | None,
    location: str | None,
    repository: str | None,
    api: str | None,
) -> int:
    """Post the status of a check that ran (after its report is written); the exit code.

    Without ``provider`` nothing is posted. A check of a folder has no commit: that is a
    usage error (exit 2). A failed post is one line on stderr and exit 2."""
    if not provider:
        return code
    try:
        if not sha:
            raise StatusError(
                "--post-status needs a commit: check with --repo/--ref or --base/--head"
            )
        post(resolve_target(provider, location, repository, api), sha, code, describe(report))
    except StatusError as exc:
        click.echo(f"meshrc: {exc}", err=True)
        return int(ExitCode.COULD_NOT_CHECK)
    return code


def could_not_check(
    provider: str,
    message: str,
    sha: str,
    location: str | None,
    repository: str | None,
    api: str | None,
) -> None:
    """Post the ``error`` state for a known commit whose check could not run (exit code 2).

    Best effort: the check's own error is what the user must see, so a failure here is one
    more line on stderr."""
    try:
        target = resolve_target(provider, location, repository, api)
        post(target, sha, int(ExitCode.COULD_NOT_CHECK), f"could not check: {message}")
    except StatusError as exc:
        click.echo(f"meshrc: {exc}", err=True)
