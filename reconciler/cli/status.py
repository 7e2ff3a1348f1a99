"""``meshrc status``: where every target stands, from the history."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.history import show, table_option
from reconciler.cli.options import color_option, state_options
from reconciler.state import open_store
from reconciler.state.display import status_table

EPILOG = """\
\b
Examples:
  meshrc status
  meshrc status -o json | jq -r '.[] | select(.health != "ok") | .target'

\b
Output (table):
  TARGET   HEALTH       COMMIT        SINCE (UTC)       LAST SYNC    OF            AT (UTC)
  prod-eu  rolled-back  3f2a9c01d4e7  2024-05-02 09:20  rolled-back  77d1e0a4b9c2  2024-05-02 09:20
  staging  ok           9b0e77a1c2f3  2024-05-02 09:10  no-op        9b0e77a1c2f3  2024-05-02 10:00

\b
COMMIT is what the target runs: the last applied (or no-op) sync's commit, or the commit a
rollback put back. HEALTH is how the last sync ended: ok (applied or no-op), blocked (its
findings stopped it), failed, rolled-back, abandoned (meshrc serve was stopping and the sync
ran out of time before applying). OF is the commit of the last sync.

\b
Exit codes:
  0  the status was printed (no target yet too)
  2  the history could not be read (bad --state, database unreachable or unreadable)
"""


@click.command(epilog=EPILOG)
@table_option
@state_options
@color_option
def status(output_format: str, state: str | None, state_dir: Path, color: str) -> None:
    """Show each target ever synced: the commit it runs, its health, its last sync.

    Read from the history `meshrc sync` records, not from the targets themselves.
    """
    with open_store(state, state_dir) as store:
        statuses = store.status()
    show(statuses, status_table, output_format, color, "no target synced yet")
