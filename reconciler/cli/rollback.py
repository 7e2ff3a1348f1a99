"""``meshrc rollback``: a target back on an earlier commit, by a real git revert, synced."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli.options import (
    default_cache_dir,
    namespace_option,
    output_option,
    progress,
    state_options,
)
from reconciler.rollback import RollbackRequest, rollback
from reconciler.state import SyncResult, open_store
from reconciler.syncing import SyncOptions

EPILOG = """
\b
What to go back to:
  --steps N     the Nth commit applied to the target before the one it runs (the history's
                applied and no-op syncs; default 1)
  --to COMMIT   that commit (id, tag, HEAD~2...), in the branch's history

\b
meshrc makes ONE commit on top of the branch head that reverts, newest first, the commits
after that one up to the commit the target runs (later commits it has not run stay), as
git revert does (three-way merges: changes elsewhere are kept). A conflict refuses the
rollback and names the commit and the files; nothing is committed. The message:
  Revert to <short> on <target>: <reason>
  This reverts commit <sha>.   (one line per reverted commit)
  Meshrc-Rollback: <target>

\b
A local repository gets the commit on the branch (its work tree must be clean); a remote
one is cloned into a temporary folder and --push pushes the revert (credentials from
MESHRC_GIT_*, as meshrc sync). Then the revert is synced to the target (--no-sync: not).
`meshrc history` shows a sync of a revert, yours or anyone's, as "rollback of <commit>".

\b
Exit codes: 0 reverted (and applied or up to date), 1 the revert was blocked by the checks,
2 it could not be made, or its sync failed or was rolled back.

\b
Examples:
  meshrc rollback --target local --steps 1 --reason "503s on reviews"
  meshrc rollback --repo https://git.example.com/mesh.git --branch main --target prod-eu \\
      --to 3f2a9c0 --push --author "Ana Lima <ana@example.com>"
"""


@click.command(epilog=EPILOG)
@click.option("--target", required=True, metavar="NAME", help="The target to roll back.")
@click.option("--to", "to", metavar="COMMIT", help="The commit to go back to.")
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    help="Go back this many applied commits (default 1).",
)
@click.option(
    "--repo", default=".", show_default=True, metavar="URL|PATH", help="The Git repository."
)
@click.option("--branch", metavar="BRANCH", help="Branch to commit to (default: HEAD's).")
@click.option("--push", is_flag=True, help="Push the revert to the remote repository's branch.")
@click.option("--author", metavar="'NAME <EMAIL>'", help="Author and committer of the revert.")
@click.option("--reason", metavar="TEXT", help="Why, for the commit's subject.")
@click.option("--no-sync", is_flag=True, help="Only commit (and push) the revert.")
@click.option(
    "--endpoints",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Endpoints file on this machine for Envoy targets (as meshrc sync).",
)
@click.option("--envoy-admin", metavar="URL", help="Admin API of the Envoy (as meshrc sync).")
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Kubeconfig for a Kubernetes target (as meshrc sync).",
)
@state_options
@namespace_option
@output_option(["text", "json"])
def rollback_command(
    target: str,
    to: str | None,
    steps: int | None,
    repo: str,
    branch: str | None,
    push: bool,
    author: str | None,
    reason: str | None,
    no_sync: bool,
    endpoints: Path | None,
    envoy_admin: str | None,
    kubeconfig: Path | None,
    state: str | None,
    state_dir: Path,
    namespace: str,
    output_format: str,
) -> None:
    """Roll a target back to an earlier commit with a git revert, and sync it."""
    request = RollbackRequest(
        target=target,
        to=to,
        steps=steps,
        branch=branch,
        push=push,
        author=author,
        reason=reason,
        sync=not no_sync,
    )
    options = SyncOptions(
        location=repo,
        state_dir=state_dir,
        cache_dir=default_cache_dir(),
        endpoints=endpoints,
        admin_url=envoy_admin,
        namespace=namespace,
        kubeconfig=kubeconfig,
    )
    with open_store(state, state_dir) as store:
        result = rollback(request, options, store, progress)
    outcome = result.outcome
    if output_format == "json":
        row = {
            "target": result.target,
            "to": result.to,
            "revert": result.revert,
            "reverts": list(result.reverted),
            "branch": result.branch,
            "pushed": result.pushed,
            "result": outcome.result.value if outcome and outcome.result else None,
            "detail": outcome.detail if outcome else None,
        }
        click.echo(json.dumps(row, indent=2))
    else:
        shown = ", ".join(c[:12] for c in result.reverted)
        pushed = " (pushed)" if result.pushed else ""
        click.echo(
            f"{result.target}: revert {result.revert[:12]} on {result.branch}{pushed} "
            f"back to {result.to[:12]}, reverting {shown}"
        )
        if outcome is not None:
            click.echo(f"{outcome.target}: {outcome.commit[:12]} {outcome.detail}")
    results = {outcome.result} if outcome else set()
    if results & {SyncResult.FAILED, SyncResult.ROLLED_BACK}:
        sys.exit(2)
    sys.exit(1 if SyncResult.BLOCKED in results else 0)
