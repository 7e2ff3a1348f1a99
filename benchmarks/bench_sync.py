"""Wall time of ``meshrc sync`` to a real Kubernetes API server for large generated meshes.

For each size (``--services``: 1,000 by default), the mesh (``generate_mesh.py``: a
DestinationRule and a VirtualService per service, 50 namespaces) is committed to a Git
repository whose meshrc.yaml names one Kubernetes target, and a fresh API server is started
(``reconciler.testenv``: etcd and kube-apiserver with Istio's CRDs, on loopback). Then:

    first apply   ``meshrc sync REPO``, empty caches: the check (cold), a plan against no
                  inventory, a server-side dry run of every object, the applies in order,
                  the inventory
    no-op         the same again, ``--repeat`` times (warm caches): the check's cached
                  report, one read of the inventory, whose source key is the files': nothing
                  else is read or sent
    in-process    one more no-op in this process, its steps timed by their progress
                  messages: fetch (open the repository), load (meshrc.yaml, policies), check,
                  plan (connect, read the inventory); "after the fetch" is all but the first
    one change    a commit that changes one VirtualService's weights: the check (its report
                  not cached; documents are, by blob id), the objects made and hashed again,
                  one object sent (dry run, then apply), the inventory written

Each run but the last is a child process timed from outside (Python's start and imports
included).

    python benchmarks/bench_sync.py                          # 1,000 services
    python benchmarks/bench_sync.py --services 1000 10000    # both (10,000: minutes)

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_check import commit_mesh, meshrc_command  # noqa: E402
from generate_mesh import NAMESPACES, generate  # noqa: E402

from reconciler.state import open_store  # noqa: E402
from reconciler.syncing import SyncOptions, sync  # noqa: E402
from reconciler.testenv import TestEnv  # noqa: E402

STEPS = {"Fetching": "fetch", "Loading": "load", "Checking": "check", "Planning": "plan"}
"""The progress messages of a sync's steps, by their first word."""


@dataclass
class Result:
    """One mesh size: wall seconds of each run, and the in-process no-op's steps."""

    services: int
    objects: int
    first_apply_s: float
    first_detail: str
    no_op_s: list[float]
    no_op_detail: str
    steps_s: dict[str, float]
    one_change_s: float
    one_change_detail: str

    @property
    def after_fetch_s(self) -> float:
        return sum(seconds for step, seconds in self.steps_s.items() if step != "fetch")


def run_sync(repo: Path, state: Path, cache: Path) -> tuple[float, str]:
    """``meshrc sync REPO`` as a child process: wall seconds and its line for the target."""
    command = [*meshrc_command(), "sync", str(repo), "--state-dir", str(state), "-o", "json"]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        capture_output=True,
        check=False,
        env={**os.environ, "MESHRC_CACHE_DIR": str(cache)},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"meshrc sync exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    (row,) = json.loads(done.stdout)
    return seconds, f"{row['result']}: {row['detail']}"


def timed_steps(repo: Path, state: Path, cache: Path) -> tuple[dict[str, float], str]:
    """A sync in this process; seconds from each progress message to the next."""
    marks: list[tuple[str, float]] = []

    def progress(message: str) -> None:
        marks.append((message.split(" ", 1)[0], time.perf_counter()))

    options = SyncOptions(location=str(repo), state_dir=state, cache_dir=cache)
    with open_store(None, state) as store:
        (outcome,) = sync(options, store, progress)
    ended = time.perf_counter()
    steps = {}
    for (step, at), (_, until) in zip(marks, [*marks[1:], ("end", ended)], strict=True):
        if step in STEPS:
            steps[STEPS[step]] = until - at
    return steps, f"{outcome.result}: {outcome.detail}"


def bench(services: int, repeat: int, work: Path) -> Result:
    root = work / f"mesh-{services}"
    namespaces = [f"team-{n}" for n in range(NAMESPACES)]
    with TestEnv(work / f"env-{services}", namespaces=namespaces) as env:
        mesh = generate(services, root / "mesh")
        target = {"name": "bench", "type": "kubernetes", "kubeconfig": str(env.kubeconfig)}
        target["namespace"] = "team-0"
        (root / "meshrc.yaml").write_text(yaml.safe_dump({"paths": ["mesh"], "targets": [target]}))
        commit_mesh(root)
        print(f"{services} services: {mesh.documents} documents, {env.server}", file=sys.stderr)
        state, cache = work / f"state-{services}", work / f"cache-{services}"
        first_s, first = run_sync(root, state, cache)
        print(f"  first apply {first_s:.1f} s: {first}", file=sys.stderr)
        no_ops = [run_sync(root, state, cache) for _ in range(repeat)]
        steps, in_process = timed_steps(root, state, cache)
        one = root / "mesh" / "team-0" / "svc0.yaml"
        text = one.read_text().replace("weight: 80", "weight: 50")
        one.write_text(text.replace("weight: 20", "weight: 50"))
        git = [
            "git",
            "-C",
            str(root),
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ]
        subprocess.run([*git, "commit", "-qam", "svc0 50/50"], check=True)
        one_s, one_detail = run_sync(root, state, cache)
    return Result(
        services=services,
        objects=2 * services,
        first_apply_s=first_s,
        first_detail=first,
        no_op_s=[seconds for seconds, _ in no_ops],
        no_op_detail=no_ops[-1][1] if no_ops else in_process,
        steps_s=steps,
        one_change_s=one_s,
        one_change_detail=one_detail,
    )


def print_table(results: list[Result]) -> None:
    header = (
        f"{'services':>8} {'objects':>7} {'first apply':>12} {'no-op (wall)':>13} "
        f"{'no-op after fetch':>18} {'one VS changed':>15}   in-process no-op steps"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        steps = ", ".join(f"{step} {seconds:.2f}" for step, seconds in r.steps_s.items())
        print(
            f"{r.services:>8} {r.objects:>7} {r.first_apply_s:>10.1f} s "
            f"{min(r.no_op_s, default=0.0):>11.2f} s {r.after_fetch_s:>16.2f} s "
            f"{r.one_change_s:>13.1f} s   {steps}"
        )
    print()
    for r in results:
        print(f"{r.services}: first {r.first_detail}; again {r.no_op_detail}")
        print(f"{r.services}: one VS changed {r.one_change_detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, nargs="+", default=[1000])
    parser.add_argument("--repeat", type=int, default=3, help="no-op runs per size")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="meshrc-bench-sync-") as tmp:
        results = [bench(services, args.repeat, Path(tmp)) for services in args.services]
    print_table(results)
    record = {
        "benchmark": "meshrc-sync",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "results": [{**asdict(r), "after_fetch_s": r.after_fetch_s} for r in results],
    }
    print(json.dumps(record, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
