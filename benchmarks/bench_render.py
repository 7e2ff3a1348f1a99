"""Speed and memory of rendering Envoy configuration for a large mesh.

Generates the mesh (``generate_mesh.py``, 10,000 services by default), loads it, and times:

    full         ``render_proxy(snapshot, "mesh", ...)``: every cluster (service port and
                 subset), every virtual host and route of the sidecar view
    write        the bootstrap as JSON (what ``meshrc render -o json`` prints), and its size
    one VS       ``Sidecar.replace``: one VirtualService changed (its weights), re-rendered
                 incrementally: only the hosts it claims are routed again, the listeners are
                 reassembled from the kept pieces
    validate     ``envoy --mode validate`` on the whole bootstrap (with --envoy)

The incremental result is compared with a full render of the changed snapshot: they must be
byte-identical, and the script says so. Memory: the peak of Python allocations during a full
render (tracemalloc, in a separate untimed pass) and the process's peak RSS.

    python benchmarks/bench_render.py [--services 10000] [--repeat 3] [--envoy]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate_mesh import generate  # noqa: E402

from reconciler.memory import gc_paused  # noqa: E402
from reconciler.model.resources import parse_resource  # noqa: E402
from reconciler.model.snapshot import build_snapshot  # noqa: E402
from reconciler.render.endpoints import from_snapshot  # noqa: E402
from reconciler.render.layouts import bootstrap, dumps  # noqa: E402
from reconciler.render.options import RenderOptions  # noqa: E402
from reconciler.render.proxies import Sidecar, render_proxy  # noqa: E402
from reconciler.source.loading import Document, directory_files, load_files  # noqa: E402
from reconciler.verify.envoy import validate  # noqa: E402

OPTIONS = RenderOptions(namespace="team-0")


def best(repeat: int, run: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def changed_weights(document: Document) -> Document:
    """The same VirtualService with its 80/20 split turned into 50/50."""
    body = json.loads(json.dumps(document.body))
    for rule in body["spec"]["http"]:
        for destination in rule.get("route", []):
            if "weight" in destination:
                destination["weight"] = 50
    return Document(document.file, document.index, document.line, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--envoy", action="store_true", help="also time envoy --mode validate")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="meshrc-bench-render-") as tmp:
        mesh = generate(args.services, Path(tmp) / "mesh")
        loaded = load_files(directory_files(Path(tmp) / "mesh"))
    documents = loaded.documents
    snapshot, findings = build_snapshot(documents)
    assert not findings, findings[:3]
    endpoints = from_snapshot(snapshot)

    full_s = best(args.repeat, lambda: render_proxy(snapshot, "mesh", endpoints, OPTIONS))
    rendered = render_proxy(snapshot, "mesh", endpoints, OPTIONS)
    config = bootstrap(rendered)
    with gc_paused():
        started = time.perf_counter()
        text = dumps(config, "json")
        write_s = time.perf_counter() - started

    # One VirtualService changes: its document is parsed again, and only it is replaced.
    index = next(i for i, d in enumerate(documents) if d.body.get("kind") == "VirtualService")
    new_document = changed_weights(documents[index])
    sidecar = Sidecar(snapshot, endpoints, OPTIONS)
    increments = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        parsed = parse_resource(new_document)
        assert parsed.resource is not None
        incremental = sidecar.replace([], [parsed.resource])
        increments.append(time.perf_counter() - started)
    one_vs_s = min(increments)
    changed_documents = [*documents[:index], new_document, *documents[index + 1 :]]
    changed_snapshot, _ = build_snapshot(changed_documents)
    full_after = render_proxy(changed_snapshot, "mesh", from_snapshot(changed_snapshot), OPTIONS)
    identical = dumps(bootstrap(incremental), "json") == dumps(bootstrap(full_after), "json")

    tracemalloc.start()
    render_proxy(snapshot, "mesh", endpoints, OPTIONS)
    peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    validate_s = None
    if args.envoy:
        started = time.perf_counter()
        validate(config)
        validate_s = time.perf_counter() - started

    record = {
        "benchmark": "meshrc-render",
        "python": platform.python_version(),
        "services": args.services,
        "documents": mesh.documents,
        "listeners": len(rendered.listeners),
        "clusters": len(rendered.clusters),
        "virtual_hosts": sum(
            len(
                x["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"]
            )
            for x in rendered.listeners
        ),
        "full_render_s": round(full_s, 3),
        "write_json_s": round(write_s, 3),
        "json_mb": round(len(text) / 1e6, 1),
        "one_vs_rerender_s": round(one_vs_s, 4),
        "speedup": round(full_s / one_vs_s, 1),
        "incremental_identical": identical,
        "render_peak_alloc_mib": round(peak_mib, 1),
        "process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "envoy_validate_s": None if validate_s is None else round(validate_s, 2),
    }
    print(f"mesh: {args.services} services, {mesh.documents} documents")
    print(
        f"rendered: {record['listeners']} listeners, {record['virtual_hosts']} virtual hosts, "
        f"{record['clusters']} clusters; {record['json_mb']} MB of JSON"
    )
    print(f"full render       {full_s:8.3f} s   (best of {args.repeat})")
    print(f"write JSON        {write_s:8.3f} s")
    print(
        f"one VS changed    {one_vs_s:8.4f} s   {record['speedup']}x faster; "
        f"identical to a full render: {identical}"
    )
    print(
        f"render peak alloc {peak_mib:8.1f} MiB; "
        f"process peak RSS {record['process_peak_rss_mib']} MiB"
    )
    if validate_s is not None:
        print(f"envoy validate    {validate_s:8.2f} s")
    print(json.dumps(record, sort_keys=True))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
