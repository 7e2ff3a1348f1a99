"""``meshrc diff``: what a change of the routing manifests means for traffic, in words."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import (
    color_option,
    default_cache_dir,
    namespace_option,
    output_option,
    use_color,
)
from reconciler.diffs import diff_snapshots
from reconciler.errors import UsageError
from reconciler.output.common import plural
from reconciler.output.context import OutputContext
from reconciler.output.diff_writers import DIFF_WRITERS
from reconciler.snapshots import MeshState, opened_source, read_state
from reconciler.source.trees import CommitTree

EPILOG = """\
\b
Examples:
  meshrc diff --base origin/main            this repository: origin/main against HEAD
  meshrc diff ../mesh --base v1.3 --head v1.4 -o markdown
  meshrc diff --repo https://git.example.com/mesh.git --base v1.3 --head v1.4 --path mesh
  meshrc diff --base HEAD~1 -o json | jq -r '.hosts[].changes[].summary'

\b
Output (text):
  reviews.shop.svc.cluster.local
    VirtualService shop/reviews
      new match headers end-user=jason -> v2 (rule canary)
      rule 1 (any request): v1 80% -> 50%, v3 20% -> 50%
    DestinationRule shop/reviews
      subset v2 added (version=v2)

\b
What counts: VirtualServices (hosts, gateways, rules and their order, matches, weights,
timeouts, retries, faults, mirrors, redirects, rewrites, CORS, headers), DestinationRules
(subsets, traffic policies), Gateways (servers admitting each host) and ServiceEntries, per
fully qualified host. Comments, key order, formatting, object labels and a short host
written as its FQDN change nothing and are not listed.

\b
Exit codes:
  0  the diff was printed, whether or not anything changes
  2  could not read (bad arguments, unreadable repository or ref)

\b
Secrets come from the environment, never from arguments:
  MESHRC_GIT_TOKEN (or _FILE), MESHRC_GIT_USERNAME, MESHRC_GIT_PASSWORD (or _FILE),
  MESHRC_GIT_SSH_KEY, MESHRC_GIT_SSH_PASSPHRASE.
"""


@click.command(epilog=EPILOG)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--repo", metavar="URL|PATH", help="A Git repository to read instead of PATH (default .)."
)
@click.option("--base", required=True, metavar="REF", help="The commit before the change.")
@click.option(
    "--head", default="HEAD", show_default=True, metavar="REF", help="The commit after it."
)
@click.option(
    "--path",
    "subdir",
    metavar="SUBDIR",
    help="Only the manifests under this folder (default: each commit's meshrc.yaml paths).",
)
@output_option(
    list(DIFF_WRITERS), "text for a terminal, markdown for a PR comment, json for scripts."
)
@namespace_option
@color_option
def diff(
    path: Path | None,
    repo: str | None,
    base: str,
    head: str,
    subdir: str | None,
    output_format: str,
    namespace: str,
    color: str,
) -> None:
    """Say what changes for traffic between two commits, host by host.

    PATH is a Git repository (default: the current folder); --repo names one by URL instead.
    Both commits are read from Git without a checkout, each with its own meshrc.yaml.
    """
    if path is not None and repo is not None:
        raise UsageError("give a repository as PATH or as --repo, not both")
    cache = default_cache_dir()
    with opened_source(repo or str(path or "."), cache) as source:
        commits = source.resolve(base), source.resolve(head)
        states = [
            read_state(CommitTree(source, c), subdir, namespace, cache / "parsed", c).unambiguous()
            for c in commits
        ]
    for side, state in zip(("base", "head"), states, strict=True):
        _warn_unread(side, state)
    colored = use_color(color, output_format)
    context = OutputContext(color=colored, base=commits[0], head=commits[1])
    routing = diff_snapshots(states[0].snapshot, states[1].snapshot)
    click.echo(DIFF_WRITERS[output_format](routing, context), nl=False, color=colored)


def _warn_unread(side: str, state: MeshState) -> None:
    """Objects that are not YAML or fail validation are left out of the diff: say so."""
    if state.findings:
        click.echo(
            f"meshrc: warning: {plural(len(state.findings), 'problem')} reading the manifests "
            f"at {side} (objects left out of the diff; `meshrc check` lists them)",
            err=True,
        )
