"""``meshrc history``: the syncs meshrc recorded, newest first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click

from reconciler.cli.options import color_option, output_option, state_options, use_color
from reconciler.output.common import Style, plain
from reconciler.output.text import ansi
from reconciler.state import DriftRecord, SyncRecord, TargetStatus, open_store
from reconciler.state.display import drift_table, history_table, to_json

EPILOG = """\
\b
Examples:
  meshrc history                            the last 50 syncs of every target
  meshrc history --target prod-eu --limit 10
  meshrc history -o json | jq -r '.[] | select(.result == "failed") | .commit'
  MESHRC_STATE=postgresql://meshrc@db.example.com/meshrc meshrc history
  meshrc history --drift                    the drifts `meshrc drift` found (and healed)

\b
Output (table):
  TIME (UTC)           TARGET   RESULT       COMMIT        AUTHOR    SUMMARY
  2024-05-02 09:14:03  prod-eu  applied      3f2a9c01d4e7  Ana Lima  3 created, 1 configured
  2024-05-02 09:10:41  staging  blocked      9b0e77a1c2f3  Bo Chen   2 findings
  2024-05-01 17:02:11  prod-eu  rolled-back  77d1e0a4b9c2  Ana Lima  1 configured; 503s on /reviews

\b
Results: applied, no-op (the content was already there), blocked (findings stopped it),
failed, rolled-back (put back to the last good commit; `meshrc status` names it).
-o json prints every field: counts, findings, error, repository, ref, content_hash,
reverts (the commits a synced revert names; the table says "rollback of <commit>").

\b
Exit codes:
  0  the history was printed (an empty one too)
  2  the history could not be read (bad --state, database unreachable or unreadable)

\b
The history is where `meshrc sync` records: --state, else SQLite in --state-dir.
A PostgreSQL password belongs in PGPASSWORD or ~/.pgpass, not in the URL.
"""


table_option = output_option(["table", "json"], "table for a terminal, json for scripts.")

Shown = TypeVar("Shown", SyncRecord, TargetStatus, DriftRecord)


def show(
    rows: Sequence[Shown],
    table: Callable[[Sequence[Shown], Style], str],
    output_format: str,
    color: str,
    empty: str,
) -> None:
    """``rows`` as JSON, or as a table coloured on a terminal; no rows print ``empty`` on
    stderr, so that a script reading the table reads nothing."""
    if output_format == "json":
        click.echo(to_json(rows), nl=False)
    elif rows:
        colored = use_color(color, output_format)
        click.echo(table(rows, ansi if colored else plain), nl=False, color=colored)
    else:
        click.echo(empty, err=True)


@click.command(epilog=EPILOG)
@click.option("--target", metavar="NAME", help="Only this target's syncs.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="How many syncs, the newest.",
)
@click.option("--drift", "drifts", is_flag=True, help="The drifts found, not the syncs.")
@table_option
@state_options
@color_option
def history(
    target: str | None,
    limit: int,
    drifts: bool,
    output_format: str,
    state: str | None,
    state_dir: Path,
    color: str,
) -> None:
    """List the syncs of every target (or one), newest first.

    Each line is one sync of one commit to one target: when it finished, how it ended, the
    commit and its author, and what it changed or why it did not.
    """
    if drifts:
        with open_store(state, state_dir) as store:
            found = store.drifts(target, limit)
        nothing = f"no drift recorded{f' for target {target}' if target else ''}"
        show(found, drift_table, output_format, color, nothing)
        return
    with open_store(state, state_dir) as store:
        records = store.history(target, limit)
    empty = f"no syncs recorded{f' for target {target}' if target else ''}"
    show(records, history_table, output_format, color, empty)
