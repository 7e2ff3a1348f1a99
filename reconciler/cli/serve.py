"""``meshrc serve``: webhooks schedule syncs; health, readiness and metrics over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.options import default_cache_dir, state_options
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

\b
Endpoints: GET /healthz, GET /readyz, GET /metrics, POST /webhooks/{github,gitlab,gitea,generic}.
Logs are JSON lines on stderr. SIGTERM or SIGINT: stop accepting, let a sync in flight end.
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
@click.option("--shutdown-timeout", default=60.0, show_default=True, type=float,
              help="Seconds to wait for a sync in flight on SIGTERM.")  # fmt: skip
@state_options
def serve_command(
    config_path: Path,
    host: str,
    port: int,
    shutdown_timeout: float,
    state: str | None,
    state_dir: Path,
) -> None:
    """Serve webhooks (GitHub, GitLab, Gitea, generic) that sync pushed commits, and metrics."""
    config = load_config(config_path)
    with open_store(state, state_dir) as store:
        finished = serve(
            config, store, host=host, port=port, state_dir=state_dir,
            cache_dir=default_cache_dir(), shutdown_timeout=shutdown_timeout,
        )  # fmt: skip
    sys.exit(0 if finished else 1)
