"""``meshrc serve``: webhooks schedule syncs; health, readiness and metrics over HTTP."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from reconciler.cli.options import default_cache_dir, state_options
from reconciler.policy.engines import OpaServerEngine
from reconciler.serve.config import load_config
from reconciler.serve.server import serve
from reconciler.state import open_store

EPILOG = """\b
serve.yaml:
  repositories:
    - name: mesh
      url: https://git.example.com/mesh.git   # or a path
      branch: main                            # the branch whose pushes are synced
      targets: [local]                        # default: every target in meshrc.yaml
      secretEnv: MESH_WEBHOOK_SECRET          # default: MESHRC_WEBHOOK_SECRET
  webhook: {maxBodyBytes: 1048576}
  leaderElection:                             # several replicas (absent: one syncs all)
    namespace: meshrc                         # where the Leases live
    leaseDuration: 15s                        # a killed replica's targets wait this long
    renewPeriod: 5s                           # at most half of leaseDuration

Several replicas: with leaderElection, each replica holds a Lease of its own and the targets
are shared out by consistent hashing; a replica syncs a target only while it holds the
target's Lease (meshrc-target-<name>), so every target is synced by exactly one replica. A
replica stopped by SIGTERM releases its Leases and another takes its targets over at once;
a killed one's are taken over after leaseDuration. Give every replica a poll schedule: a
webhook reaches one replica, and the others notice the push at their next poll.

\b
Endpoints: GET /healthz, GET /readyz, GET /metrics, POST /webhooks/{github,gitlab,gitea,generic}.
GET / is a read-only status page (targets, syncs with their routing diffs, drifts, rollbacks;
/?target=NAME for one), GET /api/status the same as JSON.
Logs are JSON lines on stderr. SIGTERM or SIGINT: stop accepting; a sync in flight may finish
within --shutdown-timeout, else it stops before its next apply, recorded as abandoned (the next
sync applies that commit). Exit 0 when every sync ended, 1 when one was still running.
"""


@click.command(epilog=EPILOG)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="serve.yaml: the repositories to follow.",
)
@click.option("--host", default="127.0.0.1", show_default=True, envvar="MESHRC_HOST",
              show_envvar=True, help="Address to listen on (0.0.0.0 in a pod).")  # fmt: skip
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              envvar="MESHRC_PORT", show_envvar=True, help="Port to listen on.")  # fmt: skip
@click.option("--shutdown-timeout", default=60.0, show_default=True,
              type=click.FloatRange(min=0), envvar="MESHRC_SHUTDOWN_TIMEOUT", show_envvar=True,
              help="Seconds a sync in flight may go on after SIGTERM; after that it stops "
              "before its next apply and is recorded abandoned.")  # fmt: skip
@click.option("--opa-url", metavar="URL", envvar="MESHRC_OPA_URL", show_envvar=True,
              help="Evaluate the Rego policies on this OPA server (token: MESHRC_OPA_TOKEN) "
              "instead of the embedded engine.")  # fmt: skip
@click.option("--identity", envvar="MESHRC_IDENTITY", show_envvar=True,
              help="This replica's name in leader election and in the logs (default: $POD_NAME, "
              "else <hostname>-<pid>); unique per replica.")  # fmt: skip
@state_options
def serve_command(
    config_path: Path,
    host: str,
    port: int,
    shutdown_timeout: float,
    opa_url: str | None,
    identity: str | None,
    state: str | None,
    state_dir: Path,
) -> None:
    """Serve webhooks (GitHub, GitLab, Gitea, generic) that sync pushed commits, and metrics."""
    config = load_config(config_path)
    token = os.environ.get("MESHRC_OPA_TOKEN") or None
    engine = OpaServerEngine(opa_url, token) if opa_url else None
    with open_store(state, state_dir) as store:
        finished = serve(
            config, store, host=host, port=port, state_dir=state_dir,
            cache_dir=default_cache_dir(), shutdown_timeout=shutdown_timeout, engine=engine,
            identity=identity,
        )  # fmt: skip
    sys.exit(0 if finished else 1)
