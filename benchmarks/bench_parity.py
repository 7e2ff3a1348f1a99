"""Parity of ``meshrc check`` with ``istioctl analyze`` on Istio's own analyzer test cases.

Runs the suite of ``tests/parity`` (Istio's analyzer test grid, its inputs carried as test
data) through meshrc's checks in process and prints how many of Istio's expected messages
meshrc reports, its false-positive errors, a table per Istio analyzer, and every difference:
each missed message and each false positive or extra finding, with the case, the resource,
what Istio says and what meshrc said. Re-run it as checks are added; nothing is cached.

    python benchmarks/bench_parity.py                  # the report
    python benchmarks/bench_parity.py --json           # the same, as one JSON document
    python benchmarks/bench_parity.py --analyzer sidecar.SelectorAnalyzer --case sidecar-selector
    python benchmarks/bench_parity.py --check          # exit 1 when the bar is not met

The bar (``tests/parity/test_parity.py``): at least 95% of expected messages matched and no
false-positive errors, apart from the differences ``tests/parity/known_differences.yaml``
excuses with a reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from parity.harness import BAR, Difference, Parity, load_cases, run  # noqa: E402

KIND_TITLES = {
    "missed": "Missed Istio messages",
    "false-positive": "False positives (meshrc errors where Istio reports nothing)",
    "extra": "Extra findings (warnings/info where Istio reports nothing, or more than Istio)",
}


def table(parity: Parity) -> list[str]:
    """One line per analyzer: cases, expected, matched, missed, false positives, extra."""
    header = ("analyzer", "cases", "expected", "matched", "missed", "FP", "extra", "other")
    rows = [
        (
            r.analyzer,
            str(r.cases),
            str(r.expected),
            str(r.matched),
            str(r.missed),
            str(r.false_positives),
            str(r.extra),
            str(r.out_of_scope),
        )
        for r in parity.rows()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    return [line(header), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]


def differences(parity: Parity) -> list[str]:
    """Every difference, grouped by kind, then by case."""
    lines: list[str] = []
    grouped: dict[str, list[Difference]] = defaultdict(list)
    for difference in parity.differences:
        grouped[difference.kind].append(difference)
    for kind, title in KIND_TITLES.items():
        found = grouped.get(kind, [])
        lines.append("")
        lines.append(f"{title}: {len(found)}")
        for d in found:
            excused = f"  [known: {d.reason}]" if d.reason else ""
            lines.append(f"  {d.case} ({d.analyzer}): {d.resource}: {d.code}{excused}")
            lines.append(f"      istio:  {d.istio}")
            lines.append(f"      meshrc: {d.meshrc}")
    return lines


def report(parity: Parity, seconds: float) -> str:
    """The human-readable report."""
    lines = [
        parity.summary(),
        f"istio/istio {parity.commit}: {len(parity.results)} in-scope cases, "
        f"{sum(r.findings for r in parity.results)} meshrc findings in {seconds:.2f}s",
        f"bar: at least {BAR:.0%} matched (now {parity.ratio:.1%} of all messages) "
        f"and no unexcused false-positive errors (now "
        f"{parity.count('false-positive', excused=False)}): "
        f"{'met' if parity.meets_bar else 'NOT met'}",
        f"excused by known_differences.yaml: {parity.count('missed', excused=True)} missed, "
        f"{parity.count('false-positive', excused=True)} false positives; "
        f"{sum(r.out_of_scope for r in parity.results)} findings in codes outside the cases' "
        "analyzers (column 'other', not compared)",
        "",
        *table(parity),
        *differences(parity),
    ]
    if parity.codes_not_in_meshrc:
        lines += ["", "Codes mapping.yaml names that meshrc does not have (yet):"]
        lines += [f"  {code}" for code in parity.codes_not_in_meshrc]
    if parity.unmapped_meshrc_codes:
        lines += ["", "meshrc codes with an Istio code that mapping.yaml does not use:"]
        lines += [f"  {code} ({ist})" for code, ist in parity.unmapped_meshrc_codes.items()]
    if parity.unused_known:
        lines += ["", "known_differences.yaml entries that no longer occur (remove them):"]
        lines += [
            f"  {k['case']}: {k['kind']} {k['resource']} {k['code']}" for k in parity.unused_known
        ]
    lines += ["", "Out of scope (not run):"]
    for analyzer, entry in parity.out_of_scope_analyzers.items():
        lines.append(
            f"  {analyzer}: {entry['messages']} messages in {len(entry['cases'])} cases: "
            f"{entry['reason']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("--analyzer", action="append", help="only this analyzer (repeatable)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the bar is not met")
    args = parser.parse_args(argv)
    _, cases = load_cases()
    if args.case:
        cases = [c for c in cases if c.name in args.case]
    if args.analyzer:
        cases = [c for c in cases if c.analyzer in args.analyzer]
    started = time.perf_counter()
    parity = run(cases)
    seconds = time.perf_counter() - started
    if args.json:
        document = {"benchmark": "meshrc-parity", "seconds": round(seconds, 3)}
        print(json.dumps({**document, **parity.to_json()}, indent=2))
    else:
        print(report(parity, seconds))
    return 1 if args.check and not parity.meets_bar else 0


if __name__ == "__main__":
    sys.exit(main())
