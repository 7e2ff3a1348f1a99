"""``meshrc render``: the Envoy configuration the manifests mean, for one proxy."""

from __future__ import annotations

import os
from pathlib import Path

import click

from reconciler.cli.options import namespace_option, output_option, tree_options
from reconciler.errors import RenderError, UsageError
from reconciler.render.cluster_endpoints import cluster_endpoints
from reconciler.render.endpoints import (
    EndpointTable,
    from_snapshot,
    parse_endpoints_file,
    subset_labels,
)
from reconciler.render.layouts import bootstrap, dumps, xds_files
from reconciler.render.options import MESH, RenderOptions
from reconciler.render.proxies import render_proxy
from reconciler.render.summary import summary
from reconciler.snapshots import MeshState, state_at

EPILOG = """
\b
Proxies (--proxy):
  mesh                 a sidecar in --proxy-namespace: an outbound listener per
                       service port on 127.0.0.1, the mesh's VirtualServices
  NAMESPACE/GATEWAY    an Istio Gateway: a listener per server port, the
                       VirtualServices bound to it

\b
Endpoints: ServiceEntry and WorkloadEntry addresses come from the files; a
Kubernetes Service's Pods come from a cluster (--kubeconfig, --context: its
EndpointSlices and Pod labels) or from --endpoints FILE:
  reviews.bookinfo/v1: [10.0.0.1:9080]      # host[:port][/subset]: addresses
  ratings.bookinfo.svc.cluster.local: [10.0.0.2:9080]

\b
Examples:
  meshrc render repo-template --proxy mesh --proxy-namespace bookinfo --summary
  meshrc render repo-template --proxy bookinfo/bookinfo-gateway -o json
  meshrc render --repo https://git.example.com/mesh.git --ref v1.4 --proxy mesh \\
      --format xds --out ./envoy --xds-dir /etc/envoy/xds
  envoy -c <(meshrc render ./mesh --proxy mesh)       # run what you rendered

\b
Exit codes: 0 rendered, 2 could not render (bad arguments, unreadable files or
repository, no such Gateway).
"""


@click.command(epilog=EPILOG)
@tree_options
@click.option(
    "--proxy", default=MESH, show_default=True, metavar="mesh|NS/GATEWAY", help="Which proxy."
)
@click.option(
    "--proxy-namespace",
    default="default",
    show_default=True,
    help="The sidecar's namespace (short names, exportTo).",
)
@click.option(
    "--format",
    "layout",
    type=click.Choice(["bootstrap", "xds"]),
    default="bootstrap",
    show_default=True,
    help="One bootstrap file, or file-based xDS (bootstrap.yaml, lds.yaml, cds.yaml; needs --out).",
)
@output_option(["yaml", "json"])
@click.option("--out", type=click.Path(path_type=Path), help="Write the files into this folder.")
@click.option(
    "--xds-dir",
    metavar="DIR",
    help="Where the Envoy will read the xDS files (default: --out, absolute).",
)
@click.option(
    "--endpoints",
    "endpoints_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Addresses of Kubernetes Services' instances (see below).",
)
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read Services' endpoints from this cluster (EndpointSlices, Pod labels).",
)
@click.option("--context", metavar="NAME", help="The kubeconfig context (default: its current).")
@click.option(
    "--credentials-dir",
    default=RenderOptions.credentials_dir,
    show_default=True,
    metavar="DIR",
    help="Where a Gateway's credentialName Secrets are mounted (NAME/tls.crt, tls.key, ca.crt).",
)
@click.option(
    "--summary", "show_summary", is_flag=True, help="Tables of listeners, routes and clusters."
)
@namespace_option
def render(
    path: Path | None,
    repo: str | None,
    ref: str | None,
    subdir: str | None,
    proxy: str,
    proxy_namespace: str,
    layout: str,
    output_format: str,
    out: Path | None,
    xds_dir: str | None,
    endpoints_file: Path | None,
    kubeconfig: Path | None,
    context: str | None,
    credentials_dir: str,
    show_summary: bool,
    namespace: str,
) -> None:
    """Render the Envoy configuration of one proxy, as istiod would compute it.

    PATH is a folder of manifests (its meshrc.yaml is read); with --repo/--ref, a commit.
    The result runs in a plain Envoy: `envoy -c bootstrap.yaml`.
    """
    if layout == "xds" and out is None:
        raise UsageError("--format xds writes three files: give --out DIR")
    state = state_at(path, repo, ref, subdir, namespace).unambiguous()
    if state.findings:
        click.echo(
            f"meshrc: warning: {len(state.findings)} problem(s) in the manifests; the objects "
            "concerned are left out (meshrc check lists them)",
            err=True,
        )
    rendered = render_proxy(
        state.snapshot,
        proxy,
        _endpoints(state, endpoints_file, kubeconfig, context),
        RenderOptions(namespace=proxy_namespace, credentials_dir=credentials_dir),
    )
    if show_summary:
        click.echo(summary(rendered), nl=False)
        return
    for note in rendered.notes:
        click.echo(f"meshrc: note: {note}", err=True)
    suffix = ".json" if output_format == "json" else ".yaml"
    if layout == "bootstrap":
        files = {"bootstrap.yaml": bootstrap(rendered)}
    else:
        assert out is not None
        files = xds_files(rendered, xds_dir or str(out.resolve()))
    texts = {
        name.removesuffix(".yaml") + suffix: dumps(doc, output_format)
        for name, doc in files.items()
    }
    if out is None:
        click.echo(next(iter(texts.values())), nl=False)
        return
    for name, text in texts.items():
        _write(out / name, text)
    click.echo(f"wrote {', '.join(str(out / name) for name in texts)}", err=True)


def _endpoints(
    state: MeshState, file: Path | None, kubeconfig: Path | None, context: str | None
) -> EndpointTable:
    """The files' endpoints, the cluster's (with --kubeconfig or --context), the file's."""
    table = from_snapshot(state.snapshot)
    if kubeconfig is not None or context is not None:
        table = table.merged(cluster_endpoints(state.snapshot, kubeconfig, context))
    if file is None:
        return table
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --endpoints {file}: {exc}") from None
    return table.merged(parse_endpoints_file(text, str(file), subset_labels(state.snapshot)))


def _write(path: Path, text: str) -> None:
    """Replace ``path`` whole: an Envoy watching the folder never reads half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        raise RenderError(f"cannot write {path}: {exc.strerror or exc}") from None
