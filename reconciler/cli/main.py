"""``meshrc``: the command group, and the one place errors become messages and exit codes."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from reconciler import __version__
from reconciler.cli.check import check
from reconciler.cli.codes import codes
from reconciler.cli.demo import demo
from reconciler.cli.diff import diff
from reconciler.cli.drift import drift
from reconciler.cli.history import history
from reconciler.cli.render import render
from reconciler.cli.rollback import rollback_command
from reconciler.cli.serve import serve_command
from reconciler.cli.status import status
from reconciler.cli.sync import sync_command
from reconciler.cli.verify import verify
from reconciler.errors import MeshrcError
from reconciler.findings import ExitCode


class _Group(click.Group):
    """Turns meshrc's errors into one line on stderr and exit code 2: never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MeshrcError as exc:
            click.echo(f"meshrc: error: {exc}", err=True)
            sys.exit(ExitCode.COULD_NOT_CHECK)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            _reader_went_away()
        except KeyboardInterrupt:
            click.echo("meshrc: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # the last line of defence: report, never dump a traceback
            if os.environ.get("MESHRC_DEBUG"):
                raise
            click.echo(
                f"meshrc: internal error: {type(exc).__name__}: {exc} "
                "(set MESHRC_DEBUG=1 for a traceback, and please report it)",
                err=True,
            )
            sys.exit(ExitCode.COULD_NOT_CHECK)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="meshrc")
def cli() -> None:
    """meshrc: GitOps for Istio routing.

    Checks the VirtualServices, DestinationRules, Gateways and ServiceEntries in a Git
    repository (with the Services and workloads beside them), proves what they do with a
    real Envoy, and applies them to clusters and Envoys, recording every sync.

    \b
    Start with:
      meshrc demo                              the whole idea in a minute, no cluster
      meshrc check ./mesh                      check a folder of manifests
      meshrc check --base origin/main --head HEAD -o markdown
                                               check a pull request
      meshrc diff --base origin/main           what it changes for traffic, in words
      meshrc render ./mesh --proxy mesh --summary
                                               the Envoy configuration they mean
      meshrc verify ./mesh                     run its RouteTests through a real Envoy
      meshrc sync --repo URL --ref main        apply a commit to meshrc.yaml's targets
      meshrc history / status / drift / rollback
                                               what was applied, and going back
      meshrc codes                             what each finding code means
    """


cli.add_command(check)
cli.add_command(codes)
cli.add_command(demo)
cli.add_command(sync_command, name="sync")
cli.add_command(diff)
cli.add_command(drift)
cli.add_command(history)
cli.add_command(render)
cli.add_command(rollback_command, name="rollback")
cli.add_command(serve_command, name="serve")
cli.add_command(status)
cli.add_command(verify)


def main() -> None:
    """Console-script entry point; click's usage errors also exit with 2."""
    try:
        cli(prog_name="meshrc")
    except BrokenPipeError:  # raised while click itself writes (--help | head)
        _reader_went_away()


def _reader_went_away() -> None:
    """The reader closed our output (``meshrc ... | head``): stop quietly, as Unix tools do."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(141)
