"""``meshrc drift``: does each target still run what meshrc last synced to it?"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli.options import default_cache_dir, output_option, progress, state_options
from reconciler.drift import DriftOptions, detect
from reconciler.state import open_store

EPILOG = """
\b
The last synced commit comes from each target: a cluster's inventory ConfigMap (its
objects are read from that commit of the repository), an Envoy folder's current version.
\b
  deleted   an object of the inventory is gone
  modified  a field the commit's object sets holds something else (field-level diff;
            fields the API server sets, key order, "1" for 1, [] for absent are not drift)
  foreign   an object with meshrc's label and this target's annotation is not in the inventory
  files     a file of an Envoy folder's current version was edited or removed
  envoy     the Envoy's dynamic listeners or clusters (admin /config_dump) differ
\b
Per target, `drift: warn` (default) records each drift (meshrc history --drift) and creates
a Warning Event (reason MeshrcDrift) on the object, or on the inventory for a deleted one;
`drift: heal` (or --heal) also server-side applies the commit's object again (force, as field
manager meshrc) and records the drift as healed. Foreign objects and Envoy folders are
reported, never healed.
\b
Exit codes: 0 no drift, or every drift healed; 1 drift that was not healed; 2 a target could
not be checked (never synced, unreachable, the commit not in the repository).
\b
Examples:
  meshrc drift . --target prod-eu
  meshrc drift --repo https://git.example.com/mesh.git --heal -o json
"""


@click.command(epilog=EPILOG)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--repo", metavar="URL|PATH", help="The Git repository (default: PATH, else .).")
@click.option(
    "--ref",
    default="HEAD",
    show_default=True,
    metavar="REF",
    help="Whose meshrc.yaml names the targets.",
)
@click.option(
    "--target", "targets", multiple=True, metavar="NAME", help="Only this target. Repeatable."
)
@click.option("--heal", is_flag=True, help="Heal every target, whatever its `drift:` mode.")
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Kubeconfig for every Kubernetes target (overrides theirs).",
)
@click.option("--envoy-admin", metavar="URL", help="Admin API of the Envoy (overrides adminUrl).")
@state_options
@output_option(["text", "json"])
def drift(
    path: Path | None,
    repo: str | None,
    ref: str,
    targets: tuple[str, ...],
    heal: bool,
    kubeconfig: Path | None,
    envoy_admin: str | None,
    state: str | None,
    state_dir: Path,
    output_format: str,
) -> None:
    """Compare each target with the commit meshrc last synced to it; record, or heal.

    PATH (or --repo) is the Git repository; its meshrc.yaml names the targets.
    """
    options = DriftOptions(
        location=repo or str(path or "."),
        state_dir=state_dir,
        ref=ref,
        targets=targets,
        heal=heal,
        cache_dir=default_cache_dir(),
        kubeconfig=kubeconfig,
        admin_url=envoy_admin,
    )
    with open_store(state, state_dir) as store:
        found = detect(options, store, progress)
    if output_format == "json":
        click.echo(json.dumps([f.as_json() for f in found], indent=2, default=str))
    else:
        for target in found:
            click.echo(target.line())
            for note in target.notes:
                click.echo(f"  note: {note}")
    if any(f.error is not None for f in found):
        sys.exit(2)
    sys.exit(1 if any(f.unhealed for f in found) else 0)
