"""``meshrc demo``: GitOps for Istio routing in a minute, with a real Envoy and no cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.demo import Demo, DemoFailed, workspace


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Work in this (empty) folder and keep it.",
)
@click.option(
    "--keep", is_flag=True, help="Keep the temporary folder (repository, state, Envoy files)."
)
def demo(directory: Path | None, keep: bool) -> None:
    """Make a Git repository from the starter repository, sync it to a real local Envoy with
    stand-ins for the services, and change routing by commits: a new split, its revert, and
    a commit that fails the checks and is blocked. Traffic is measured at every step.

    Exit 0 only when every step was observed as expected, 1 when one was not, 2 when the
    demo could not run (no Envoy).
    """
    with workspace(directory, keep) as folder:
        try:
            Demo(folder, click.echo).run()
        except DemoFailed as exc:
            click.echo(f"meshrc: {exc}", err=True)
            sys.exit(1)
        click.echo(
            "Every step happened as expected." + (f" Files: {folder}" if keep or directory else "")
        )
