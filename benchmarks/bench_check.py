"""Speed and memory of ``meshrc check`` on a large generated mesh.

For each layout, the mesh of ``--services`` services (``generate_mesh.py``) is written to a
temporary folder, then ``meshrc check DIR -o json --cache-dir <fresh folder>`` is run as a
child process: once cold (empty caches), then ``--repeat`` times warm (same cache: the report
of an unchanged tree is read back), then ``--repeat`` times with the parse cache only (the
cached reports removed before each run, as when a pull request changes a file: every
document is still validated and checked, but no file is parsed again). Each
run is timed from the outside (wall time around the process) and its peak RSS is read with
GNU ``/usr/bin/time -f %M`` (Debian package ``time``), or, without it, by a small wrapper that
runs the CLI in-process and writes its ``ru_maxrss`` (and its workers') at exit. Peak RSS is
the largest single process: a cold run parses in worker processes, each counted on its own.

The stages are then timed in-process for a breakdown: reading and hashing the files, parsing
(cold and warm), validation into a snapshot, the checks, and the report (suppression, lines).

With ``--git``, the mesh is also committed into a Git repository and
``meshrc check --repo DIR --ref HEAD`` is timed the same way (blobs are read from Git
objects, and cached by their blob ids).

    python benchmarks/bench_check.py                       # 10,000 services, both layouts
    python benchmarks/bench_check.py --services 2000 --layout per-namespace --git
    python benchmarks/bench_check.py --keep /tmp/meshes    # keep the generated meshes

Prints a table, then one JSON line (``{"benchmark": "meshrc-check", ...}``) for machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate_mesh import LAYOUTS, generate  # noqa: E402

from reconciler.checking import _located  # noqa: E402
from reconciler.checks import run_checks  # noqa: E402
from reconciler.checks.suppression import suppress  # noqa: E402
from reconciler.findings import Report  # noqa: E402
from reconciler.memory import gc_paused  # noqa: E402
from reconciler.model.snapshot import build_snapshot  # noqa: E402
from reconciler.source.loading import directory_files, load_files  # noqa: E402

GNU_TIME = Path("/usr/bin/time")

# Runs the CLI in this interpreter and writes the peak RSS (KiB) of the process and of the
# workers it waited for to the file named by the first argument.
_RSS_WRAPPER = """\
import resource, sys
out = sys.argv.pop(1)
try:
    from reconciler.cli.main import main
    main()
finally:
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    with open(out, "w") as fh:
        fh.write(str(peak))
"""


@dataclass
class Run:
    """One child process: wall seconds, peak RSS in MiB, exit code, number of findings."""

    seconds: float
    peak_mib: float
    exit_code: int
    findings: int


@dataclass
class Scenario:
    name: str
    layout: str
    services: int
    files: int
    documents: int
    megabytes: float
    cold: Run
    warm: list[Run]
    reparse: list[Run]
    libyaml_s: float
    """Parsing every file with libyaml alone (PyYAML's CSafeLoader, one process): the yardstick
    that tells a slower machine from a slower meshrc."""
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def best_warm(self) -> Run:
        return min(self.warm, key=lambda r: r.seconds)

    @property
    def best_reparse(self) -> Run:
        return min(self.reparse, key=lambda r: r.seconds)

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "layout": self.layout,
            "services": self.services,
            "files": self.files,
            "documents": self.documents,
            "megabytes": round(self.megabytes, 2),
            "libyaml_s": round(self.libyaml_s, 3),
            "cold_s": round(self.cold.seconds, 3),
            "cold_per_libyaml": round(self.cold.seconds / self.libyaml_s, 2),
            "warm_per_libyaml": round(self.best_warm.seconds / self.libyaml_s, 3),
            "warm_s": round(self.best_warm.seconds, 3),
            "warm_runs_s": [round(r.seconds, 3) for r in self.warm],
            "parse_cached_s": round(self.best_reparse.seconds, 3),
            "parse_cached_runs_s": [round(r.seconds, 3) for r in self.reparse],
            "cold_peak_mib": round(self.cold.peak_mib, 1),
            "warm_peak_mib": round(max(r.peak_mib for r in self.warm), 1),
            "parse_cached_peak_mib": round(max(r.peak_mib for r in self.reparse), 1),
            "findings": self.cold.findings,
            "exit_code": self.cold.exit_code,
            "stages_s": {k: round(v, 3) for k, v in self.stages.items()},
            "runs": {
                "cold": asdict(self.cold),
                "warm": [asdict(r) for r in self.warm],
                "parse_cached": [asdict(r) for r in self.reparse],
            },
        }


def meshrc_command() -> list[str]:
    """The installed ``meshrc`` next to this interpreter, else the same through ``-c``."""
    script = Path(sys.executable).with_name("meshrc")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from reconciler.cli.main import main; main()"]


def run_meshrc(args: list[str], scratch: Path) -> Run:
    """Run ``meshrc ARGS`` as a child; time it from outside and read its peak RSS."""
    rss_file = scratch / "rss"
    rss_file.unlink(missing_ok=True)
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), *meshrc_command(), *args]
    else:
        command = [sys.executable, "-c", _RSS_WRAPPER, str(rss_file), *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(
            f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-2000:]}"
        )
    findings = len(json.loads(done.stdout)["findings"])
    rss_lines = rss_file.read_text().split()  # GNU time may prefix "Command exited with ..."
    return Run(seconds, int(rss_lines[-1]) / 1024, done.returncode, findings)


def cold_and_warm(args: list[str], repeat: int, scratch: Path) -> dict[str, Any]:
    """Runs with a fresh cache, with the same cache, and with only its parsed documents."""
    cache = scratch / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    full = ["check", *args, "-o", "json", "--cache-dir", str(cache)]
    cold = run_meshrc(full, scratch)
    warm = [run_meshrc(full, scratch) for _ in range(repeat)]
    reparse = []
    for _ in range(repeat):
        shutil.rmtree(cache / "reports", ignore_errors=True)
        reparse.append(run_meshrc(full, scratch))
    return {"cold": cold, "warm": warm, "reparse": reparse}


def stage_times(root: Path, scratch: Path) -> dict[str, float]:
    """The steps of ``check_files``, timed one by one in this process."""
    times: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any) -> Any:
        started = time.perf_counter()
        with gc_paused():
            value = fn(*args)
        times[name] = time.perf_counter() - started
        return value

    cache = scratch / "stage-cache"
    shutil.rmtree(cache, ignore_errors=True)
    files = timed("read+hash", directory_files, root)
    timed("parse (cold)", load_files, files, cache)
    loaded = timed("parse (warm)", load_files, files, cache)
    snapshot, schema = timed("validate", build_snapshot, loaded.documents)
    findings = timed("checks", run_checks, snapshot)

    def report() -> Report:
        kept = suppress([*loaded.findings, *schema, *findings], snapshot)
        return Report.build(_located(kept, loaded), checked_files=loaded.files)

    timed("report", report)
    shutil.rmtree(cache, ignore_errors=True)
    return times


def libyaml_seconds(root: Path) -> float:
    """Best of three: every YAML file under ``root`` parsed with libyaml, nothing else."""
    paths = sorted(root.rglob("*.yaml"))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        with gc_paused():
            for path in paths:
                list(yaml.load_all(path.read_bytes(), Loader=yaml.CSafeLoader))
        best = min(best, time.perf_counter() - started)
    return best


def commit_mesh(root: Path) -> None:
    """Make ``root`` a Git repository whose HEAD holds the mesh."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "mesh"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env)


def bench_layout(
    layout: str, services: int, repeat: int, work: Path, keep: Path | None, git: bool
) -> list[Scenario]:
    mesh_dir = (keep or work) / f"mesh-{layout}"
    started = time.perf_counter()
    mesh = generate(services, mesh_dir, layout, overwrite=True)  # type: ignore[arg-type]
    print(
        f"generated {layout}: {mesh.files} files, {mesh.documents} documents, "
        f"{mesh.bytes / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    scratch = work / f"scratch-{layout}"
    scratch.mkdir(parents=True, exist_ok=True)
    common = {
        "layout": layout,
        "services": services,
        "files": mesh.files,
        "documents": mesh.documents,
        "megabytes": mesh.bytes / 1e6,
    }
    common["libyaml_s"] = libyaml_seconds(mesh_dir)
    runs = cold_and_warm([str(mesh_dir)], repeat, scratch)
    results = [Scenario(f"dir {layout}", stages=stage_times(mesh_dir, scratch), **runs, **common)]
    if git:
        shutil.rmtree(mesh_dir / ".git", ignore_errors=True)
        started = time.perf_counter()
        commit_mesh(mesh_dir)
        print(f"committed in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        runs = cold_and_warm(["--repo", str(mesh_dir), "--ref", "HEAD"], repeat, scratch)
        results.append(Scenario(f"git {layout}", **runs, **common))
    return results


def print_table(scenarios: list[Scenario]) -> None:
    header = (
        f"{'scenario':<18} {'services':>8} {'files':>6} {'documents':>9} {'MB':>5} "
        f"{'libyaml s':>9} {'cold s':>7} {'warm s':>7} {'parsed s':>8} {'peak MB':>8} "
        f"{'parsed MB':>9} {'findings':>8}"
    )
    print(header)
    print("-" * len(header))
    for s in scenarios:
        print(
            f"{s.name:<18} {s.services:>8} {s.files:>6} {s.documents:>9} {s.megabytes:>5.1f} "
            f"{s.libyaml_s:>9.2f} "
            f"{s.cold.seconds:>7.2f} {s.best_warm.seconds:>7.2f} {s.best_reparse.seconds:>8.2f} "
            f"{s.cold.peak_mib:>8.0f} {max(r.peak_mib for r in s.reparse):>9.0f} "
            f"{s.cold.findings:>8}"
        )
    print()
    print(
        "libyaml: parsing the files with libyaml alone, in this run (the machine's yardstick).\n"
        "cold: empty cache. warm: best run with the same cache (the report is read back).\n"
        "parsed: best run with parsed documents cached but no report (validation and checks\n"
        "run). peak MB: largest process (MiB) of the cold run; parsed MB: of the parsed runs."
    )
    staged = [s for s in scenarios if s.stages]
    if staged:
        names = list(staged[0].stages)
        print()
        print(f"{'in-process stages (s)':<22} " + " ".join(f"{n:>13}" for n in names))
        for s in staged:
            print(f"{s.name:<22} " + " ".join(f"{s.stages[n]:>13.2f}" for n in names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument(
        "--layout",
        choices=[*LAYOUTS, "both"],
        default="both",
        help="mesh layout; both = per-service and per-namespace (default)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="warm runs (default 3)")
    parser.add_argument("--git", action="store_true", help="also time --repo DIR --ref HEAD")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="generate the meshes under DIR and keep them"
    )
    args = parser.parse_args(argv)
    if args.services < 1 or args.repeat < 1:
        parser.error("--services and --repeat must be >= 1")
    layouts = ["per-service", "per-namespace"] if args.layout == "both" else [args.layout]
    if args.git and shutil.which("git") is None:
        parser.error("--git needs the git command")

    scenarios: list[Scenario] = []
    with tempfile.TemporaryDirectory(prefix="meshrc-bench-") as tmp:
        for layout in layouts:
            scenarios += bench_layout(
                layout, args.services, args.repeat, Path(tmp), args.keep, args.git
            )
    print_table(scenarios)
    record = {
        "benchmark": "meshrc-check",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rss_by": "gnu-time" if GNU_TIME.exists() else "rusage-wrapper",
        "results": [s.summary() for s in scenarios],
    }
    print(json.dumps(record, separators=(",", ":")))
    unclean = [s.name for s in scenarios if any(r.findings for r in [s.cold, *s.warm, *s.reparse])]
    if unclean:
        print(f"warning: findings on a consistent mesh ({', '.join(unclean)})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
