"""Benchmark of the Rego policies on a large mesh: the embedded engine against a real OPA server.

Generates the mesh (``generate_mesh.py``, 10,000 services by default), loads it, builds the
policy input once (timed, with its JSON size), then evaluates meshrc's built-in pack through
the embedded engine (regorus, in this process) and through a real ``opa run --server`` started
by ``managed_opa`` (the pinned build of tests/testbins.py, ``--opa-binary``, MESHRC_OPA_BINARY
or ``opa`` on PATH). Each engine runs the whole policy step of a check (build the input,
evaluate, turn decisions into findings) ``--repeat`` times; the best run is reported:

    total      build_input + engine.evaluate + to_findings
    input      building the input + serialising it + handing it over: for regorus the
               JSON dump and set_input_json; for OPA the query's round trip less OPA's own
               evaluation time (the client's dump, the transfer, OPA parsing the input)
    eval       evaluating the query: regorus's eval_rule_as_json; OPA's timer_rego_query_eval
    setup      the rest: loading and compiling the policies (and removing them, for OPA)

If ``policies/`` holds no modules yet, a small representative set of rules written here is
evaluated instead, and the output says so.

    python benchmarks/bench_policy.py [--services 10000] [--repeat 3] [--opa-binary PATH]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import regorus  # noqa: E402
from generate_mesh import generate  # noqa: E402
from opa_client import OpaClient  # noqa: E402

from reconciler.errors import PolicyError  # noqa: E402
from reconciler.memory import gc_paused  # noqa: E402
from reconciler.policy.bundle import PolicyBundle, PolicyFolder, builtin_folder, load_bundle  # noqa: E402
from reconciler.policy.decisions import to_findings  # noqa: E402
from reconciler.policy.engines import (  # noqa: E402
    EmbeddedEngine,
    Engine,
    OpaServerEngine,
    managed_opa,
)
from reconciler.policy.inputs import build_input  # noqa: E402
from reconciler.source.loading import directory_files, load_files  # noqa: E402

# Used only when policies/ has no modules: a few rules of the kinds the pack has (a lookup
# across kinds through input.index, a per-route walk, a parameter), over every resource.
FALLBACK = {
    "subsets.rego": """package bench.subsets

findings contains f if {
	some vs in input.resources
	vs.kind == "VirtualService"
	some i, http in vs.spec.http
	some j, route in http.route
	subset := route.destination.subset
	not defined(vs.metadata.namespace, route.destination.host, subset)
	f := {
		"code": "subset-not-found",
		"severity": "error",
		"message": sprintf("subset %s is not defined", [subset]),
		"resource": {"kind": vs.kind, "namespace": vs.metadata.namespace, "name": vs.metadata.name},
		"field": sprintf("spec.http[%d].route[%d].destination.subset", [i, j]),
	}
}

defined(namespace, host, subset) if {
	some name, position in input.index.DestinationRule[namespace]
	dr := input.resources[position]
	startswith(dr.spec.host, host)
	some s in dr.spec.subsets
	s.name == subset
}
""",
    "weights.rego": """package bench.weights

deny contains msg if {
	some vs in input.resources
	vs.kind == "VirtualService"
	some http in vs.spec.http
	count(http.route) > 1
	total := sum([object.get(r, "weight", 0) | some r in http.route])
	total != 100
	msg := sprintf("%s/%s: weights sum to %d", [vs.metadata.namespace, vs.metadata.name, total])
}
""",
    "timeouts.rego": """package bench.timeouts

default params := {}

params := data.meshrc.params

warn contains {"msg": "no timeout", "resource": r} if {
	object.get(params, "require_timeouts", true)
	some vs in input.resources
	vs.kind == "VirtualService"
	some http in vs.spec.http
	not http.timeout
	r := {"kind": "VirtualService", "namespace": vs.metadata.namespace, "name": vs.metadata.name}
}
""",
}


@dataclass
class Run:
    total: float
    build: float
    input: float
    eval: float
    setup: float
    findings: int

    @property
    def input_share(self) -> float:
        return self.input / self.total if self.total else 0.0


class _Timings:
    """Seconds by step, filled by the wrappers below during one evaluation."""

    def __init__(self) -> None:
        self.by_step: dict[str, float] = defaultdict(float)


_TIMINGS = _Timings()
_REGORUS_ENGINE = regorus.Engine


class _TimedRegorus:
    """regorus.Engine with each call timed (the Rust class cannot be patched itself)."""

    def __init__(self) -> None:
        self._engine = _REGORUS_ENGINE()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._engine, name)

        def timed(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args)
            finally:
                _TIMINGS.by_step[name] += time.perf_counter() - started

        return timed


_QUERY_RULE = OpaClient.query_rule


def _timed_query_rule(
    self: Any, input_data: Any, package_path: str, rule_name: Any = None, query_params: Any = None
) -> Any:
    """The one query of a check, with OPA's own metrics asked for and recorded."""
    started = time.perf_counter()
    answer = _QUERY_RULE(self, input_data, package_path, rule_name, {"metrics": "true"})
    _TIMINGS.by_step["query"] += time.perf_counter() - started
    metrics = answer.get("metrics") or {}
    _TIMINGS.by_step["opa_eval"] += metrics.get("timer_rego_query_eval_ns", 0) / 1e9
    _TIMINGS.by_step["opa_input_parse"] += metrics.get("timer_rego_input_parse_ns", 0) / 1e9
    return answer


@contextmanager
def instrumented() -> Iterator[None]:
    regorus.Engine = _TimedRegorus
    OpaClient.query_rule = _timed_query_rule
    try:
        yield
    finally:
        regorus.Engine = _REGORUS_ENGINE
        OpaClient.query_rule = _QUERY_RULE


def one_check(engine: Engine, bundle: PolicyBundle, documents: list[Any]) -> Run:
    """The policy step of one check, timed."""
    _TIMINGS.by_step.clear()
    started = time.perf_counter()
    with gc_paused():
        document = build_input(documents, kinds=bundle.input_kinds)
        built = time.perf_counter()
        results = engine.evaluate(bundle, document)
        findings = to_findings(results, document)
    total = time.perf_counter() - started
    build = built - started
    steps = _TIMINGS.by_step
    if engine.name == "embedded":
        dump_started = time.perf_counter()
        json.dumps(document)  # what evaluate serialises; timed again here, outside it
        dump = time.perf_counter() - dump_started
        eval_s = steps["eval_rule_as_json"]
        handed = dump + steps["set_input_json"]
    else:
        eval_s = steps["opa_eval"]
        handed = steps["query"] - eval_s
    return Run(
        total=total,
        build=build,
        input=build + handed,
        eval=eval_s,
        setup=max(0.0, total - build - handed - eval_s),
        findings=len(findings),
    )


def find_opa(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    try:
        from testbins import OPA  # type: ignore[import-not-found]  # tests/testbins.py

        found = OPA.find()
        if found:
            return str(found)
    except ImportError:
        pass
    return shutil.which("opa")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine (best reported)")
    parser.add_argument("--opa-binary", help="the opa to run (default: see the module doc)")
    parser.add_argument(
        "--opa-timeout",
        type=float,
        default=600.0,
        help="seconds OPA may take for one check before its runs are given up (default 600)",
    )
    parser.add_argument(
        "--skip-package",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="leave out the modules of this package (repeatable), e.g. to compare the engines "
        "without one that is too slow in one of them",
    )
    parser.add_argument(
        "--fallback", action="store_true", help="evaluate this script's own rules, not the pack"
    )
    args = parser.parse_args(argv)
    if args.services < 1 or args.repeat < 1:
        parser.error("--services and --repeat must be >= 1")

    with tempfile.TemporaryDirectory(prefix="meshrc-bench-policy-") as tmp:
        started = time.perf_counter()
        mesh = generate(args.services, Path(tmp) / "mesh", "per-service")
        print(
            f"generated {mesh.documents} documents ({mesh.bytes / 1e6:.1f} MB) "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        started = time.perf_counter()
        loaded = load_files(directory_files(Path(tmp) / "mesh"))
        load_s = time.perf_counter() - started

    pack = builtin_folder()
    bundle = without_packages(load_bundle([pack]), args.skip_package)
    policies = f"built-in pack ({len(bundle.modules)} modules, {len(bundle.packages)} packages)"
    if args.skip_package:
        policies += f" without {', '.join(args.skip_package)}"
    if args.fallback or not bundle.modules:
        bundle = load_bundle(
            [PolicyFolder("bench-fallback", {k: v.encode() for k, v in FALLBACK.items()})]
        )
        why = "--fallback" if args.fallback else "policies/ has no modules"
        policies = f"FALLBACK rules of this script ({len(bundle.modules)} modules): {why}"
    print(f"policies: {policies}", file=sys.stderr)

    documents = loaded.documents
    with gc_paused():
        started = time.perf_counter()
        document = build_input(documents, kinds=bundle.input_kinds)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        input_json = json.dumps(document)
        dump_s = time.perf_counter() - started
    input_bytes = len(input_json.encode())
    del input_json

    engines: dict[str, Run | str] = {}
    with instrumented():
        engines["embedded"] = best_of(EmbeddedEngine(), bundle, documents, args.repeat)
        opa = find_opa(args.opa_binary)
        if opa is None:
            engines["opa"] = "skipped: no opa binary (python3 tests/testbins.py opa builds one)"
        else:
            try:
                engines["opa"] = best_of_fresh_opa(
                    opa, args.opa_timeout, bundle, documents, args.repeat
                )
            except PolicyError as exc:
                if "did not answer within" not in str(exc):
                    raise
                engines["opa"] = f"gave up: no answer within {args.opa_timeout:g} s a check"

    print_table(
        args.services, len(documents), load_s, build_s, dump_s, input_bytes, policies, engines
    )
    record = {
        "benchmark": "meshrc-policy",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "services": args.services,
        "documents": len(documents),
        "resources": len(document["resources"]),
        "load_s": round(load_s, 3),
        "build_input_s": round(build_s, 3),
        "serialise_input_s": round(dump_s, 3),
        "input_bytes": input_bytes,
        "policies": policies,
        "repeat": args.repeat,
        "engines": {
            name: (
                {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(run).items()}
                | {"input_share": round(run.input_share, 3)}
                if isinstance(run, Run)
                else run
            )
            for name, run in engines.items()
        },
    }
    print(json.dumps(record, separators=(",", ":")))
    return 0


def without_packages(bundle: PolicyBundle, packages: list[str]) -> PolicyBundle:
    if not packages:
        return bundle
    kept = {
        path: text
        for path, text in bundle.modules.items()
        if not any(re.search(rf"^package\s+{re.escape(p)}\s*$", text, re.M) for p in packages)
    }
    missing = set(packages) - (set(bundle.packages) - set(PolicyBundle(kept).packages))
    if missing:
        raise SystemExit(f"no such package in the pack: {', '.join(sorted(missing))}")
    return PolicyBundle(kept, bundle.data)


def best_of(engine: Engine, bundle: PolicyBundle, documents: list[Any], repeat: int) -> Run:
    return _best(engine.name, [one_check(engine, bundle, documents) for _ in range(repeat)])


def best_of_fresh_opa(
    opa: str, timeout: float, bundle: PolicyBundle, documents: list[Any], repeat: int
) -> Run:
    """As ``meshrc check --policy-engine opa`` runs it: a server of its own per check (its
    start is not counted), policies loaded through the API, one query, no clean-up."""
    runs = []
    for _ in range(repeat):
        with managed_opa(binary=opa) as url:
            engine = OpaServerEngine(url, timeout=timeout, clean_up=False)
            runs.append(one_check(engine, bundle, documents))
    return _best("opa", runs)


def _best(name: str, runs: list[Run]) -> Run:
    for n, run in enumerate(runs, 1):
        print(f"{name} run {n}: {run.total:.2f} s, {run.findings} findings", file=sys.stderr)
    return min(runs, key=lambda r: r.total)


def print_table(
    services: int,
    documents: int,
    load_s: float,
    build_s: float,
    dump_s: float,
    input_bytes: int,
    policies: str,
    engines: dict[str, Run | str],
) -> None:
    print(f"mesh: {services} services, {documents} documents, loaded in {load_s:.2f} s")
    print(
        f"input: built in {build_s:.2f} s, serialised in {dump_s:.2f} s, "
        f"{input_bytes / 1e6:.1f} MB of JSON"
    )
    print(f"policies: {policies}")
    header = (
        f"{'engine':<10} {'total s':>8} {'input s':>8} {'input %':>8} {'eval s':>8} "
        f"{'setup s':>8} {'findings':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, run in engines.items():
        if isinstance(run, str):
            print(f"{name:<10} {run}")
            continue
        print(
            f"{name:<10} {run.total:>8.2f} {run.input:>8.2f} {100 * run.input_share:>7.0f}% "
            f"{run.eval:>8.2f} {run.setup:>8.2f} {run.findings:>9}"
        )
    print(
        "\ntotal: build the input + evaluate + findings, best of the runs. input: build + "
        "serialise + hand over\n(OPA: the query's round trip less OPA's evaluation). eval: the "
        "engine's evaluation alone.\nsetup: the rest (load and compile the policies; for OPA "
        "also remove them)."
    )


if __name__ == "__main__":
    sys.exit(main())
