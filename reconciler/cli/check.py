"""``meshrc check``: the PR status check."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import click
import yaml

from reconciler.checking import check_files, mark_new
from reconciler.cli.options import (
    color_option,
    default_cache_dir,
    namespace_option,
    output_option,
    progress,
    use_color,
)
from reconciler.codes import Severity
from reconciler.config import CONFIG_FILE
from reconciler.diffs import diff_snapshots
from reconciler.errors import MeshrcError, UsageError
from reconciler.findings import Report
from reconciler.output import FORMATS, formats_help, get_writer
from reconciler.output.context import OutputContext
from reconciler.output.diff_writers import SECTION_TITLE, routing_section
from reconciler.planning import CheckChoices, CheckPlan
from reconciler.policy.engines import (
    DEFAULT_TIMEOUT,
    EmbeddedEngine,
    Engine,
    OpaServerEngine,
    managed_opa,
)
from reconciler.snapshots import read_state
from reconciler.source.documents import DEFAULT_MAX_FILE_BYTES
from reconciler.source.git import Credentials, GitSource, open_source
from reconciler.source.trees import CommitTree, FolderTree, Tree
from reconciler.statuses import PROVIDERS, after_check, could_not_check

FAIL_ON = ["error", "warning", "info", "none"]
_SIZE_UNITS = {
    "": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
}  # fmt: skip

EPILOG = (
    "\b\nOutput formats (-o):\n"
    + "\n".join(f"  {line}" for line in formats_help().splitlines())
    + """

\b
Exit codes:
  0  nothing at or above --fail-on
  1  findings at or above --fail-on (with --fail-on-new: new ones only)
  2  could not check (bad arguments, unreadable repository or ref, a policy
     that does not compile, an OPA server that is down or too slow)
The exit code is the same whatever the output format.

\b
Examples:
  meshrc check repo-template
  meshrc check --repo https://git.example.com/mesh.git --ref v1.4 --path mesh
  meshrc check --base origin/main --head HEAD --fail-on-new -o github
  meshrc check ./mesh --ignore subset-without-labels \\
      --ignore 'host-not-found=VirtualService/legacy-*/*'
  meshrc check ./mesh --policy ./team-policies --param retries_max=3
  meshrc check ./mesh --policy-engine opa --opa-url http://127.0.0.1:8181

\b
Rego policies: meshrc's own pack always runs (unless --no-builtin-policies), then the
folders in meshrc.yaml's `policies:` and each --policy. The embedded engine (regorus) needs
no server; --policy-engine opa uses --opa-url, or starts `opa run --server` from PATH.

\b
Secrets come from the environment, never from arguments:
  MESHRC_GIT_TOKEN (or _FILE), MESHRC_GIT_USERNAME, MESHRC_GIT_PASSWORD (or _FILE),
  MESHRC_GIT_SSH_KEY, MESHRC_GIT_SSH_PASSPHRASE, MESHRC_OPA_TOKEN.

`meshrc codes` lists every finding code with its severity and Istio/Kiali code.
"""
)


def _parse_size(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    text = value.strip().lower().replace(" ", "")
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(digits) :]
    if not digits.isdigit() or unit not in _SIZE_UNITS:
        raise click.BadParameter(f"{value!r} is not a size such as 5MiB or 200000")
    return int(digits) * _SIZE_UNITS[unit]


def _parse_params(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for text in values:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{text!r} is not KEY=VALUE")
        try:
            params[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise click.BadParameter(f"{text!r}: the value is not a YAML value") from None
    return params


@click.command(epilog=EPILOG)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--repo",
    metavar="URL|PATH",
    help="Read manifests from this Git repository at --ref instead of a folder.",
)
@click.option("--ref", metavar="REF", help="Branch, tag, commit or HEAD~1 (default HEAD).")
@click.option(
    "--path",
    "subdir",
    metavar="SUBDIR",
    help="Only the manifests under this folder (default: meshrc.yaml's paths).",
)
@click.option(
    "--base",
    metavar="REF",
    help="Pull request base: findings that already exist there are not new.",
)
@click.option("--head", metavar="REF", help="Pull request head (default HEAD with --base).")
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    help="Lowest severity that fails the check (exit 1); none never fails. "
    "[default: meshrc.yaml's failOn, else error]",
)
@click.option(
    "--fail-on-new", is_flag=True, help="With --base: fail only on findings the head introduces."
)
@output_option(list(FORMATS), "Output format (see the list below).")
@click.option(
    "--ignore",
    "ignores",
    multiple=True,
    metavar="CODE[=Kind/ns/name]",
    help="Drop findings of CODE (on resources matching the glob). Repeatable.",
)
@click.option(
    "--only",
    type=click.Choice(["python", "rego"]),
    help="Run only the Python checks, or only the Rego policies.",
)
@click.option(
    "--policy",
    "policy_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="A folder of Rego policies (and data files). Repeatable.",
)
@click.option("--no-builtin-policies", is_flag=True, help="Do not run meshrc's own Rego pack.")
@click.option(
    "--param",
    "params",
    multiple=True,
    callback=_parse_params,
    metavar="KEY=VALUE",
    help="A policy parameter (data.meshrc.params.KEY). Repeatable.",
)
@click.option(
    "--policy-engine",
    type=click.Choice(["auto", "opa", "embedded"]),
    default="auto",
    show_default=True,
    help="auto: OPA when --opa-url is set, else embedded.",
)
@click.option("--opa-url", metavar="URL", help="A running OPA server (token: MESHRC_OPA_TOKEN).")
@click.option(
    "--policy-timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long OPA may take to answer.",
)
@namespace_option
@click.option(
    "--max-file-size",
    default=f"{DEFAULT_MAX_FILE_BYTES // 2**20}MiB",
    callback=_parse_size,
    show_default=True,
    help="Larger files are reported, not parsed (e.g. 20MiB).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Cache of parses, reports and cloned repositories "
    "[default: $MESHRC_CACHE_DIR or ~/.cache/meshrc].",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write cached parses and reports.")
@click.option(
    "--post-status",
    type=click.Choice(PROVIDERS),
    help="Post the result as a commit status of the head commit "
    "(token: MESHRC_STATUS_TOKEN, or GITHUB_TOKEN, GITLAB_TOKEN, GITEA_TOKEN).",
)
@click.option(
    "--status-repo",
    metavar="OWNER/NAME",
    help="Repository of the status [default: the remote URL, else GITHUB_REPOSITORY "
    "or CI_PROJECT_PATH].",
)
@click.option(
    "--status-api",
    metavar="URL",
    help="API root for --post-status (required for gitea) [default: $MESHRC_STATUS_API, "
    "https://api.github.com, https://gitlab.com/api/v4].",
)
@color_option
def check(
    path: Path | None,
    repo: str | None,
    ref: str | None,
    subdir: str | None,
    base: str | None,
    head: str | None,
    fail_on: str | None,
    fail_on_new: bool,
    output_format: str,
    ignores: tuple[str, ...],
    only: Literal["python", "rego"] | None,
    policy_dirs: tuple[Path, ...],
    no_builtin_policies: bool,
    params: dict[str, Any],
    policy_engine: str,
    opa_url: str | None,
    policy_timeout: float,
    namespace: str,
    max_file_size: int,
    cache_dir: Path | None,
    no_cache: bool,
    post_status: str | None,
    status_repo: str | None,
    status_api: str | None,
    color: str,
) -> None:
    """Check Istio routing manifests with Python checks and Rego policies; report findings
    with file and line.

    PATH is a folder (or one file) of manifests; its meshrc.yaml, if any, is read. With --repo,
    or with --base/--head, the manifests are read from Git at a commit instead, without a
    checkout, and the meshrc.yaml of that commit is read.
    """
    if fail_on_new and not base:
        raise UsageError("--fail-on-new needs --base (the commit to compare with)")
    cache = cache_dir or default_cache_dir()
    git_location = repo or (str(path) if path and (base or head or ref) else None)
    if git_location is None and (base or head or ref):
        git_location = "."
    base_id = head_id = None
    sections: list[str] = []
    choices = CheckChoices(
        ignores, only, policy_dirs, no_builtin_policies, params, namespace, max_file_size,
        None if no_cache else cache,
    )  # fmt: skip
    try:
        with _engine(policy_engine, opa_url, policy_timeout) as engine:
            if git_location is None:
                tree: Tree = FolderTree(path or Path("."))
                plan = CheckPlan.of(tree, subdir, choices)
                options = plan.options(choices, engine, commit=None)
                report = check_files(tree.manifests(plan.paths), options)
            else:
                progress(f"Reading {git_location}")
                with open_source(git_location, cache / "git", Credentials.from_env()) as source:
                    head_id = source.resolve(head or ref or "HEAD")
                    head_tree = CommitTree(source, head_id)
                    plan = CheckPlan.of(head_tree, subdir, choices)
                    commit = {"id": head_id, "ref": head or ref or "HEAD"}
                    options = plan.options(choices, engine, commit)
                    progress(f"Checking {head_id[:12]}")
                    report = check_files(head_tree.manifests(plan.paths), options)
                    if base:
                        base_id = source.resolve(base)
                        progress(f"Checking base {base_id[:12]}")
                        base_files = CommitTree(source, base_id).manifests(plan.paths)
                        report = mark_new(report, check_files(base_files, options))
                        if output_format == "markdown":
                            sections.append(_routing(source, base_id, head_id, subdir, choices))
    except MeshrcError as exc:
        if post_status and head_id:  # the commit is known: its status says the check failed
            could_not_check(post_status, str(exc), head_id, git_location, status_repo, status_api)
        raise
    threshold = fail_on or plan.config.fail_on or "error"
    _write(report, output_format, color, threshold, base_id, head_id, sections)
    code = 0 if threshold == "none" else report.exit_code(Severity(threshold), fail_on_new)
    code = after_check(post_status, report, code, head_id, git_location, status_repo, status_api)
    sys.exit(int(code))


def _routing(
    source: GitSource, base: str, head: str, subdir: str | None, choices: CheckChoices
) -> str:
    """The PR comment's "Routing changes" section: what the pull request means for traffic."""
    parse_cache = choices.cache_dir / "parsed" if choices.cache_dir else None
    base_state, head_state = (
        read_state(CommitTree(source, c), subdir, choices.namespace, parse_cache, c)
        for c in (base, head)
    )
    if base_state.snapshot.duplicates or head_state.snapshot.duplicates:
        return (
            f"{SECTION_TITLE}\n\nNot computed: an object is declared twice "
            "(duplicate-resource), so which copy routes traffic is unknown."
        )
    return routing_section(diff_snapshots(base_state.snapshot, head_state.snapshot))


@contextmanager
def _engine(kind: str, opa_url: str | None, timeout: float) -> Iterator[Engine]:
    """The Rego engine: OPA at --opa-url, a managed ``opa run --server``, or regorus."""
    token = os.environ.get("MESHRC_OPA_TOKEN") or None
    if opa_url and kind in ("auto", "opa"):
        yield OpaServerEngine(opa_url, token, timeout)
    elif kind == "opa":
        with managed_opa() as url:
            yield OpaServerEngine(url, None, timeout, clean_up=False)
    else:
        if opa_url:
            raise UsageError("--opa-url needs --policy-engine opa or auto")
        yield EmbeddedEngine()


def _write(
    report: Report,
    output_format: str,
    color: str,
    fail_on: str,
    base: str | None,
    head: str | None,
    sections: list[str],
) -> None:
    colored = use_color(color, output_format)
    context = OutputContext(
        color=colored,
        base=base,
        head=head,
        fail_on=Severity.ERROR if fail_on == "none" else Severity(fail_on),
        anchor_file=CONFIG_FILE,
        extra_sections=sections,
    )
    click.echo(get_writer(output_format)(report, context), nl=False, color=colored)
