"""``meshrc sync``: apply a commit to the repository's targets, checked, and recorded."""

from __future__ import annotations

import functools
import json
import signal
import sys
import threading
from pathlib import Path

import click

from reconciler import rollback
from reconciler.cli.options import (
    default_cache_dir,
    namespace_option,
    output_option,
    progress,
    state_options,
)
from reconciler.errors import UsageError
from reconciler.rollback import parse_author
from reconciler.state import SyncResult, open_store
from reconciler.syncing import AutoRevert, SyncOptions, sync
from reconciler.targets.envoy import EnvoyFolder, supervise

EPILOG = """
\b
The targets are in the repository's meshrc.yaml:
  targets:
    - name: local
      type: envoy                 # a local Envoy reading file-based xDS
      proxy: mesh                 # or NAMESPACE/GATEWAY
      namespace: bookinfo         # the sidecar's namespace
      directory: /var/lib/envoy   # default: <state dir>/envoy/<name>
      endpoints: endpoints.yaml   # Services' instances, in the repository
      adminUrl: http://127.0.0.1:15000   # the Envoy's admin API: confirm each apply
    - name: prod-eu
      type: kubernetes            # a cluster: the Istio resources, server-side applied
      context: prod-eu            # of --kubeconfig, $KUBECONFIG or ~/.kube/config
      namespace: mesh             # of objects that name none, and of the inventory
      prune: true                 # delete what meshrc applied and left Git
      apply: [istio, envoy]       # also the rendered Envoy config, as ConfigMaps
      proxies: [istio-system/ingress]   # which (default: every Gateway)

\b
Steps: fetch, load, check (as meshrc check: a failing commit is never applied and is
recorded as blocked), render, plan (content hashes: nothing new is a no-op), apply (the
new version written whole, then switched to), health (the Envoy took it; else switched
back and recorded as rolled back), record (meshrc history).

\b
A cluster is planned against its inventory (ConfigMap meshrc-inventory-NAME), every change
is sent as a server-side dry run first (a conflict with another field manager, a schema
rejection or a missing CRD applies nothing), then applied as field manager meshrc in
make-before-break order (DestinationRules keep their old subsets until the VirtualServices
have moved); a step that fails puts back what the sync changed.

\b
--auto-revert: when a target rolled back, meshrc also makes ONE revert commit on the
synced branch (--ref must name one) undoing the commits from the targets' last good commit
to the one that failed (message: "Revert to <short> on <targets>: auto-revert: <error>"),
and pushes it to the repository synced from (a local one gets it on its branch), never
forced: when the branch moved on meanwhile, or the revert conflicts or is refused, nothing
is committed and the output says why; the target stays rolled back either way. The next
sync of the revert is a no-op for the target, and `meshrc history` shows it as "rollback
of <commit>".

\b
Exit codes: 0 every target applied or up to date, 1 a target was blocked by the checks,
2 a target failed or was rolled back, or the sync could not run.

\b
Examples:
  meshrc sync --repo https://git.example.com/mesh.git --ref main
  meshrc sync . --ref HEAD --target local --dry-run
  meshrc sync . --target prod-eu --kubeconfig ~/.kube/prod --dry-run   # each change
  envoy -c ~/.local/state/meshrc/envoy/local/bootstrap.yaml    # the Envoy it feeds
  meshrc sync . --run-envoy       # or let meshrc run that Envoy, and keep it running
  meshrc sync --repo https://git.example.com/mesh.git --ref main --auto-revert \\
      --revert-author "meshrc bot <meshrc@example.com>"   # a rejected commit is reverted
"""


@click.command(epilog=EPILOG)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--repo", metavar="URL|PATH", help="The Git repository (default: PATH, else .).")
@click.option("--ref", default="HEAD", show_default=True, metavar="REF", help="The commit to sync.")
@click.option(
    "--target", "targets", multiple=True, metavar="NAME", help="Only this target. Repeatable."
)
@click.option(
    "--dry-run", is_flag=True, help="Print what would be applied; apply and record nothing."
)
@click.option(
    "--endpoints",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Endpoints file on this machine for Envoy targets (overrides meshrc.yaml's).",
)
@click.option(
    "--envoy-admin",
    metavar="URL",
    help="Admin API of the Envoy to confirm with (overrides adminUrl).",
)
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Kubeconfig for every Kubernetes target (overrides their kubeconfig and inCluster; "
    "their contexts are looked up in it).",
)
@click.option(
    "--force-conflicts",
    is_flag=True,
    help="Take over fields another field manager owns in a cluster (server-side apply force).",
)
@click.option(
    "--run-envoy",
    is_flag=True,
    help="Then run a real Envoy on each Envoy target's folder and keep it running (restarted "
    "when it exits) until Ctrl-C; other syncs confirm their versions through it.",
)
@click.option(
    "--auto-revert",
    is_flag=True,
    help="When a target rolls back, commit a revert of the commit(s) that failed on the synced "
    "branch and push it to the repository (credentials as for fetching).",
)
@click.option(
    "--revert-author",
    metavar="'NAME <EMAIL>'",
    help="Author and committer of that revert (default: git config's user, else meshrc).",
)
@state_options
@namespace_option
@output_option(["text", "json"])
def sync_command(
    path: Path | None,
    repo: str | None,
    ref: str,
    targets: tuple[str, ...],
    dry_run: bool,
    endpoints: Path | None,
    envoy_admin: str | None,
    kubeconfig: Path | None,
    force_conflicts: bool,
    run_envoy: bool,
    auto_revert: bool,
    revert_author: str | None,
    state: str | None,
    state_dir: Path,
    namespace: str,
    output_format: str,
) -> None:
    """Sync a commit of the repository to its targets: checked, rendered, applied, recorded.

    PATH (or --repo) is the Git repository; the commit's meshrc.yaml names the targets.
    """
    if revert_author is not None and not auto_revert:
        raise UsageError("--revert-author needs --auto-revert")
    parse_author(revert_author, "--revert-author")
    options = SyncOptions(
        location=repo or str(path or "."),
        state_dir=state_dir,
        ref=ref,
        targets=targets,
        dry_run=dry_run,
        cache_dir=default_cache_dir(),
        endpoints=endpoints,
        admin_url=envoy_admin,
        namespace=namespace,
        kubeconfig=kubeconfig,
        force_conflicts=force_conflicts,
        auto_revert=auto_revert,
        revert_author=revert_author,
    )
    with open_store(state, state_dir) as store:
        outcomes = rollback.auto_revert(options, sync(options, store, progress), store, progress)
    if output_format == "json":
        rows = [
            {
                "target": o.target,
                "result": o.result.value if o.result else "dry-run",
                "commit": o.commit,
                "detail": o.detail,
                "changes": list(o.changes),
                "revert": _revert_row(o.revert),
            }
            for o in outcomes
        ]
        click.echo(json.dumps(rows, indent=2))
    else:
        for o in outcomes:
            click.echo(f"{o.target}: {o.commit[:12]} {o.detail}")
            for change in o.changes:
                click.echo(f"  {change}")
        reverts = {o.revert for o in outcomes if o.revert is not None}
        for revert in reverts:  # one per sync
            click.echo(f"auto-revert: {revert.detail}")
    results = {o.result for o in outcomes}
    folders = [o.directory for o in outcomes if o.directory and (o.directory / "..data").exists()]
    if run_envoy and folders:
        _supervise([EnvoyFolder(folder) for folder in folders])
    if results & {SyncResult.FAILED, SyncResult.ROLLED_BACK}:
        sys.exit(2)
    sys.exit(1 if SyncResult.BLOCKED in results else 0)


def _revert_row(revert: AutoRevert | None) -> dict[str, object] | None:
    if revert is None:
        return None
    return {
        "commit": revert.commit,
        "reverts": list(revert.reverted),
        "pushed": revert.pushed,
        "detail": revert.detail,
    }


def _supervise(folders: list[EnvoyFolder]) -> None:
    """Keep an Envoy running on every folder until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    say = functools.partial(click.echo, err=True)
    say("Running Envoy; Ctrl-C stops it.")
    threads = [
        threading.Thread(
            target=supervise, args=(folder, stop, say), name=f"envoy-{folder.directory.name}"
        )
        for folder in folders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
