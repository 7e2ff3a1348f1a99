"""Generate a large, valid Istio mesh for benchmarks and tests.

For each service ``i`` (named ``svc<i>``, in namespace ``team-<i % 50>``) five documents:

* a Service with one port, 9080 named ``http``, selecting ``app: svc<i>``;
* two Deployments, versions ``v1`` and ``v2`` (pod labels ``app`` and ``version``);
* a DestinationRule with a connection pool and the subsets ``v1`` and ``v2``;
* a VirtualService: requests with the header ``x-canary: "true"`` go to ``v2``, the rest is
  split 80/20 between ``v1`` and ``v2``; every rule sets a timeout.

Every host, subset, port, selector and weight is consistent, so a correct checker reports
nothing. 10,000 services give 50,000 documents and about 17 MB of YAML (1.7 KB a service).
The YAML mixes the forms real repositories have: block and flow mappings (``{app: svc1, ...}``),
short hosts in VirtualServices (``svc1``, resolved in the VirtualService's namespace) and fully
qualified ones in DestinationRules (``svc1.team-1.svc.cluster.local``).

The output depends only on the arguments: the same ``services``, ``layout`` and ``seed`` give
the same files, byte for byte, and service ``i`` is the same whatever the number of services.
The seed varies a few numbers per service (replicas, connection-pool limits, timeout, image
tag), never the structure.

Usable as a module (``benchmarks`` is not a package: put the folder on ``sys.path``)::

    sys.path.insert(0, str(REPO / "benchmarks"))
    from generate_mesh import generate
    mesh = generate(1000, tmp_path / "mesh", layout="per-service")

or as a script::

    python benchmarks/generate_mesh.py --services 10000 --out /tmp/mesh [--layout per-service]

Standard library only: the YAML is written from string templates, not by a YAML library.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Layout = Literal["per-service", "per-namespace", "single-file"]
LAYOUTS: tuple[Layout, ...] = ("per-service", "per-namespace", "single-file")

NAMESPACES = 50
DOCUMENTS_PER_SERVICE = 5
SINGLE_FILE_NAME = "mesh.yaml"

_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    app: {name}
  ports:
  - name: http
    port: 9080
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}-{version}
  namespace: {ns}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}, version: {version}}}
  template:
    metadata:
      labels: {{app: {name}, version: {version}}}
    spec:
      containers:
      - name: app
        image: registry.example.com/{name}:{tag}
        ports:
        - containerPort: 9080
"""

_DESTINATION_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
  namespace: {ns}
spec:
  host: {fqdn}
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: {max_connections}
      http:
        http1MaxPendingRequests: {max_pending}
  subsets:
  - name: v1
    labels: {{version: v1}}
  - name: v2
    labels: {{version: v2}}
"""

_VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: {ns}
spec:
  hosts:
  - {name}
  http:
  - match:
    - headers:
        x-canary:
          exact: "true"
    route:
    - destination:
        host: {name}
        subset: v2
    timeout: {timeout}s
  - route:
    - destination:
        host: {name}
        subset: v1
      weight: 80
    - destination:
        host: {name}
        subset: v2
      weight: 20
    timeout: {timeout}s
"""


@dataclass(frozen=True)
class GeneratedMesh:
    """What :func:`generate` wrote."""

    out_dir: Path
    layout: Layout
    services: int
    namespaces: int
    files: int
    documents: int
    bytes: int


def namespace_of(i: int) -> str:
    """The namespace of service ``i``."""
    return f"team-{i % NAMESPACES}"


def service_name(i: int) -> str:
    """The name of service ``i`` (also its ``app`` label)."""
    return f"svc{i}"


def service_host(i: int) -> str:
    """The fully qualified host of service ``i``."""
    return f"{service_name(i)}.{namespace_of(i)}.svc.cluster.local"


def render_service(i: int, seed: int = 0) -> str:
    """The five documents of service ``i`` as one YAML stream (documents joined by ``---``)."""
    rng = random.Random(seed * 1_000_003 + i)  # per service: independent of the total
    name, ns, host = service_name(i), namespace_of(i), service_host(i)
    replicas = rng.randint(1, 3)
    tag = f"1.{rng.randint(0, 9)}.{rng.randint(0, 20)}"
    parts = [
        _SERVICE.format(name=name, ns=ns),
        _DEPLOYMENT.format(name=name, ns=ns, version="v1", replicas=replicas, tag=tag),
        _DEPLOYMENT.format(name=name, ns=ns, version="v2", replicas=1, tag=tag + "-rc1"),
        _DESTINATION_RULE.format(
            name=name,
            ns=ns,
            fqdn=host,
            max_connections=rng.choice((50, 100, 200, 500)),
            max_pending=rng.choice((10, 50, 100)),
        ),
        _VIRTUAL_SERVICE.format(name=name, ns=ns, timeout=rng.randint(1, 30)),
    ]
    return "---\n".join(parts)


def _files(services: int, layout: Layout, seed: int) -> Iterator[tuple[str, str]]:
    """(relative path, text) of every file of the mesh, in a fixed order."""
    if layout == "per-service":
        for i in range(services):
            yield f"{namespace_of(i)}/{service_name(i)}.yaml", render_service(i, seed)
    elif layout == "per-namespace":
        for n in range(min(services, NAMESPACES)):
            ns = f"team-{n}"
            text = "---\n".join(render_service(i, seed) for i in range(n, services, NAMESPACES))
            yield f"{ns}.yaml", text
    elif layout == "single-file":
        if services:
            text = "---\n".join(render_service(i, seed) for i in range(services))
            yield SINGLE_FILE_NAME, text
    else:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")


def _remove_generated(out_dir: Path) -> None:
    """Delete what an earlier run may have written under ``out_dir``, and nothing else."""
    for path in [out_dir / SINGLE_FILE_NAME, *out_dir.glob("team-*.yaml")]:
        path.unlink(missing_ok=True)
    for sub in out_dir.glob("team-*"):
        if sub.is_dir():
            for path in sub.glob("svc*.yaml"):
                path.unlink()
            if not any(sub.iterdir()):
                sub.rmdir()


def generate(
    services: int,
    out_dir: Path,
    layout: Layout = "per-service",
    seed: int = 0,
    *,
    overwrite: bool = False,
) -> GeneratedMesh:
    """Write a mesh of ``services`` services under ``out_dir`` and return its counts.

    Layouts: ``per-service`` writes ``<namespace>/svc<i>.yaml`` (5 documents each),
    ``per-namespace`` writes ``team-<n>.yaml`` (all services of a namespace), ``single-file``
    writes ``mesh.yaml``. ``out_dir`` must be empty or absent, so that no file of an earlier
    run is mixed in; with ``overwrite``, the files an earlier run may have written are removed
    first (and nothing else: a directory that still holds other files is an error).
    """
    if services < 0:
        raise ValueError("services must be >= 0")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if overwrite:
            _remove_generated(out_dir)
        if any(out_dir.iterdir()):
            what = "holds files this generator did not write" if overwrite else "is not empty"
            raise FileExistsError(f"{out_dir} {what} (overwrite=True / --force removes only ours)")
    out_dir.mkdir(parents=True, exist_ok=True)

    files = total_bytes = 0
    made: set[Path] = set()
    for rel, text in _files(services, layout, seed):
        path = out_dir / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        data = text.encode("utf-8")
        path.write_bytes(data)
        files += 1
        total_bytes += len(data)
    return GeneratedMesh(
        out_dir=out_dir,
        layout=layout,
        services=services,
        namespaces=min(services, NAMESPACES),
        files=files,
        documents=services * DOCUMENTS_PER_SERVICE,
        bytes=total_bytes,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a large, consistent Istio mesh (5 documents per service)."
    )
    parser.add_argument("--services", type=int, required=True, help="number of services")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--layout", choices=LAYOUTS, default="per-service")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--force", action="store_true", help="remove the files of an earlier run from --out first"
    )
    args = parser.parse_args(argv)
    if args.services < 0:
        parser.error("--services must be >= 0")
    try:
        mesh = generate(args.services, args.out, args.layout, args.seed, overwrite=args.force)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"services={mesh.services} namespaces={mesh.namespaces} files={mesh.files} "
        f"documents={mesh.documents} bytes={mesh.bytes} ({mesh.bytes / 1e6:.1f} MB) "
        f"layout={mesh.layout} out={mesh.out_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
