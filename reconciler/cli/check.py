"""``meshrc check``: the PR status check."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from reconciler.checking import CheckOptions, check_files, mark_new
from reconciler.checks.suppression import IgnoreRule
from reconciler.codes import Severity
from reconciler.errors import UsageError
from reconciler.findings import Report
from reconciler.output import FORMATS, formats_help, get_writer
from reconciler.output.context import OutputContext
from reconciler.source.documents import DEFAULT_MAX_FILE_BYTES
from reconciler.source.git import Credentials, GitSource, open_source
from reconciler.source.loading import CONFIG_FILE, SourceFile, directory_files, is_manifest_path

FAIL_ON = ["error", "warning", "info", "none"]
_SIZE_UNITS = {
    "": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}

EPILOG = (
    "\b\nOutput formats (-o):\n"
    + "\n".join(f"  {line}" for line in formats_help().splitlines())
    + """

\b
Exit codes:
  0  nothing at or above --fail-on
  1  findings at or above --fail-on (with --fail-on-new: new ones only)
  2  could not check (bad arguments, unreadable repository or ref)
The exit code is the same whatever the output format.

\b
Examples:
  meshrc check repo-template/mesh
  meshrc check --repo https://git.example.com/mesh.git --ref v1.4 --path mesh
  meshrc check --base origin/main --head HEAD --fail-on-new -o github
  meshrc check ./mesh --ignore subset-without-labels \\
      --ignore 'host-not-found=VirtualService/legacy-*/*'

\b
Credentials for remote repositories come from the environment, never from arguments:
  MESHRC_GIT_TOKEN (or _FILE), MESHRC_GIT_USERNAME, MESHRC_GIT_PASSWORD (or _FILE),
  MESHRC_GIT_SSH_KEY, MESHRC_GIT_SSH_PASSPHRASE.

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


def _default_cache_dir() -> Path:
    if env := os.environ.get("MESHRC_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meshrc"


@click.command(epilog=EPILOG)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--repo",
    metavar="URL|PATH",
    help="Read manifests from this Git repository at --ref instead of a folder.",
)
@click.option("--ref", metavar="REF", help="Branch, tag or commit to check (default HEAD).")
@click.option(
    "--path",
    "subdir",
    metavar="SUBDIR",
    help="Only the manifests under this folder of the repository.",
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
    default="error",
    show_default=True,
    help="Lowest severity that makes the check fail (exit 1); none never fails.",
)
@click.option(
    "--fail-on-new", is_flag=True, help="With --base: fail only on findings the head introduces."
)
@click.option(
    "-o",
    "--output",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Output format.\n\n" + formats_help(),
)
@click.option(
    "--ignore",
    "ignores",
    multiple=True,
    metavar="CODE[=Kind/ns/name]",
    help="Drop findings of CODE (on resources matching the glob). Repeatable.",
)
@click.option(
    "--namespace", default="default", show_default=True, help="Namespace of objects that name none."
)
@click.option(
    "--max-file-size",
    default=str(DEFAULT_MAX_FILE_BYTES),
    callback=_parse_size,
    show_default=True,
    help="Larger files are reported, not parsed (e.g. 20MiB).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Cache of parsed files and cloned repositories "
    "[default: $MESHRC_CACHE_DIR or ~/.cache/meshrc].",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write cached parses and reports.")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour text output (auto: only on a terminal).",
)
def check(
    path: Path | None,
    repo: str | None,
    ref: str | None,
    subdir: str | None,
    base: str | None,
    head: str | None,
    fail_on: str,
    fail_on_new: bool,
    output_format: str,
    ignores: tuple[str, ...],
    namespace: str,
    max_file_size: int,
    cache_dir: Path | None,
    no_cache: bool,
    color: str,
) -> None:
    """Check Istio routing manifests; report findings with file and line.

    PATH is a folder (or file) of manifests. With --repo, or with --base/--head, the
    manifests are read from Git at a commit instead, without a checkout.
    """
    cache = cache_dir or _default_cache_dir()
    options = CheckOptions(
        ignore=[IgnoreRule.parse(text) for text in ignores],
        default_namespace=namespace,
        max_file_bytes=max_file_size,
        cache_dir=None if no_cache else cache,
    )
    if fail_on_new and not base:
        raise UsageError("--fail-on-new needs --base (the commit to compare with)")
    git_location = repo or (str(path) if path and (base or head or ref) else None)
    if git_location is None and (base or head or ref):
        git_location = "."
    base_id = head_id = None
    if git_location is None:
        root = path or Path(".")
        if not root.exists():
            raise UsageError(f"{root} does not exist")
        if subdir:
            root = root / subdir
        prefix = "" if str(path or ".") in (".", "./") else root.as_posix().rstrip("/") + "/"
        report = check_files(directory_files(root, prefix), options)
    else:
        _progress(f"Reading {git_location}")
        with open_source(git_location, cache / "git", Credentials.from_env()) as source:
            head_id = source.resolve(head or ref or "HEAD")
            report = check_files(_commit_files(source, head_id, subdir), options)
            if base:
                base_id = source.resolve(base)
                report = mark_new(
                    report, check_files(_commit_files(source, base_id, subdir), options)
                )
    _write(report, output_format, color, fail_on, base_id, head_id)
    threshold = None if fail_on == "none" else Severity(fail_on)
    code = report.exit_code(threshold, only_new=fail_on_new) if threshold else 0
    sys.exit(int(code))


def _commit_files(source: GitSource, commit: str, subdir: str | None) -> list[SourceFile]:
    _progress(f"Checking {commit[:12]}")
    return [
        SourceFile(f.path, f.blob_id, f.size, _reader(source, f.blob_id))
        for f in source.files(commit, subdir)
        if is_manifest_path(f.path)
    ]


def _reader(source: GitSource, blob_id: str) -> Callable[[], bytes]:
    return lambda: source.read(blob_id)


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        click.echo(f"{message}...", err=True)


def _write(
    report: Report,
    output_format: str,
    color: str,
    fail_on: str,
    base: str | None,
    head: str | None,
) -> None:
    use_color = color == "always" or (
        color == "auto"
        and output_format == "text"
        and sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
    )
    context = OutputContext(
        color=use_color,
        base=base,
        head=head,
        fail_on=Severity.ERROR if fail_on == "none" else Severity(fail_on),
        anchor_file=CONFIG_FILE,
    )
    click.echo(get_writer(output_format)(report, context), nl=False, color=use_color)
