"""Parity of ``meshrc check`` with ``istioctl analyze``, on Istio's own analyzer test cases.

Each case of ``expected.yaml`` (Istio's test grid, imported by ``import_istio.py``) is checked
in process with the function ``meshrc check`` uses (Python checks only: the Rego pack
re-states Python checks and adds guardrails Istio has no analyzer for). Then:

- an Istio message is *matched* when meshrc reports a code that ``mapping.yaml`` maps it to
  (for the case's analyzer) on the same resource (kind, namespace, name); each meshrc finding
  matches at most one message;
- a *false positive* is an unmatched meshrc finding of severity error, in a code mapped from
  the case's analyzer, on a resource where Istio expects no message mapping to that code;
- unmatched findings in those codes of lower severity, or on a resource where Istio expects
  the message fewer times, are *extra* (listed, not counted against the bar);
- findings in other codes are outside the case's scope: Istio ran only the analyzer under
  test, on inputs that are often otherwise incomplete meshes. They are only counted.

Differences listed in ``known_differences.yaml`` carry their reason in the report; an excused
miss still counts against the 95% bar, an excused false positive does not fail it.
Used by ``test_parity.py`` and ``benchmarks/bench_parity.py``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from reconciler.checking import CheckOptions, check_files
from reconciler.codes import CODES, Severity
from reconciler.findings import Finding
from reconciler.model.mesh import MeshSettings
from reconciler.source.loading import directory_files

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
EXPECTED = HERE / "expected.yaml"
MAPPING = HERE / "mapping.yaml"
KNOWN = HERE / "known_differences.yaml"
DEFAULT_NAMESPACE = "default"
"""meshrc's namespace for objects without one. Istio's test leaves such objects without a
namespace (its message then names ``Kind name``), which meshrc places in ``default``."""
BAR = 0.95


@dataclass(frozen=True, order=True)
class Ref:
    """A resource as Istio's messages name it; ``namespace`` None when the YAML has none."""

    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def names(self, finding: Finding) -> bool:
        """Whether ``finding`` is about this resource."""
        if finding.kind != self.kind or finding.name != self.name:
            return False
        if self.namespace is None:
            return finding.namespace in (None, "", DEFAULT_NAMESPACE)
        return finding.namespace == self.namespace


@dataclass(frozen=True)
class Message:
    """One message Istio's test expects."""

    code: str
    type: str
    level: str
    resource: Ref


@dataclass(frozen=True)
class Case:
    """One in-scope case of Istio's grid."""

    name: str
    istio_name: str
    analyzer: str
    inputs: tuple[str, ...]
    mesh_config: str | None
    expected: tuple[Message, ...]

    @property
    def folder(self) -> Path:
        return CASES / self.name


@dataclass(frozen=True)
class Difference:
    """A missed Istio message, a false positive, or an extra finding."""

    case: str
    analyzer: str
    kind: Literal["missed", "false-positive", "extra"]
    resource: str
    code: str
    """The IST code (missed) or the meshrc code (false positive, extra)."""
    istio: str
    """What Istio says of this resource in this case (``IST0101 ReferencedResourceNotFound``,
    or ``nothing``)."""
    meshrc: str
    """What meshrc said (codes and messages on the resource), or ``nothing``."""
    reason: str | None = None
    """Set when ``known_differences.yaml`` excuses it."""

    def key(self) -> tuple[str, str, str, str]:
        return (self.case, self.kind, self.resource, self.code)


@dataclass
class CaseResult:
    """The outcome of one case."""

    case: Case
    matched: list[tuple[Message, Finding]] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    out_of_scope: int = 0
    """meshrc findings in codes not mapped from the case's analyzer."""
    findings: int = 0


@dataclass
class AnalyzerRow:
    """Totals of one analyzer."""

    analyzer: str
    cases: int = 0
    expected: int = 0
    matched: int = 0
    missed: int = 0
    false_positives: int = 0
    extra: int = 0
    out_of_scope: int = 0


@dataclass
class Parity:
    """The whole suite's outcome."""

    commit: str
    results: list[CaseResult]
    unused_known: list[dict[str, str]]
    unmapped_meshrc_codes: dict[str, str]
    """meshrc codes that name an IST code but appear nowhere in mapping.yaml."""
    codes_not_in_meshrc: list[str]
    """Codes mapping.yaml names that meshrc does not have (yet)."""
    out_of_scope_analyzers: dict[str, dict[str, Any]]

    @property
    def differences(self) -> list[Difference]:
        return [d for r in self.results for d in r.differences]

    @property
    def expected(self) -> int:
        return sum(len(r.case.expected) for r in self.results)

    @property
    def matched(self) -> int:
        return sum(len(r.matched) for r in self.results)

    def count(self, kind: str, *, excused: bool | None = None) -> int:
        return sum(
            1
            for d in self.differences
            if d.kind == kind and (excused is None or (d.reason is not None) == excused)
        )

    @property
    def false_positives(self) -> int:
        return self.count("false-positive")

    @property
    def ratio(self) -> float:
        """Matched over every expected message: an excused miss is explained, not forgiven."""
        return self.matched / self.expected if self.expected else 1.0

    @property
    def meets_bar(self) -> bool:
        return self.ratio >= BAR and self.count("false-positive", excused=False) == 0

    def rows(self) -> list[AnalyzerRow]:
        by: dict[str, AnalyzerRow] = {}
        for result in self.results:
            row = by.setdefault(result.case.analyzer, AnalyzerRow(result.case.analyzer))
            row.cases += 1
            row.expected += len(result.case.expected)
            row.matched += len(result.matched)
            row.out_of_scope += result.out_of_scope
            kinds = Counter(d.kind for d in result.differences)
            row.missed += kinds["missed"]
            row.false_positives += kinds["false-positive"]
            row.extra += kinds["extra"]
        return sorted(by.values(), key=lambda r: r.analyzer)

    def summary(self) -> str:
        return (
            f"{self.matched}/{self.expected} Istio messages matched, "
            f"{self.false_positives} false positives"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "istio_commit": self.commit,
            "matched": self.matched,
            "expected": self.expected,
            "false_positives": self.false_positives,
            "ratio": round(self.ratio, 4),
            "bar": BAR,
            "meets_bar": self.meets_bar,
            "excused": {
                "missed": self.count("missed", excused=True),
                "false_positives": self.count("false-positive", excused=True),
            },
            "extra": self.count("extra"),
            "out_of_scope_findings": sum(r.out_of_scope for r in self.results),
            "analyzers": [dataclasses.asdict(row) for row in self.rows()],
            "differences": [dataclasses.asdict(d) for d in self.differences],
            "unused_known_differences": self.unused_known,
            "codes_not_in_meshrc": self.codes_not_in_meshrc,
            "unmapped_meshrc_codes": self.unmapped_meshrc_codes,
            "out_of_scope_analyzers": self.out_of_scope_analyzers,
        }


class Mapping:
    """``mapping.yaml``: which meshrc codes report an Istio message, per analyzer."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def load(cls, path: Path = MAPPING) -> Mapping:
        return cls(yaml.safe_load(path.read_text()) or {})

    def codes(self, analyzer: str, ist_code: str) -> frozenset[str]:
        entry = self.data.get(ist_code) or {}
        specific = (entry.get("by_analyzer") or {}).get(analyzer)
        return frozenset(specific if specific is not None else entry.get("codes") or ())

    def analyzer_codes(self, analyzer: str, ist_codes: Iterable[str]) -> frozenset[str]:
        """The meshrc codes of everything ``analyzer`` reports: the IST codes it is expected
        to report anywhere in the grid, and those mapping.yaml refines for it."""
        wanted = set(ist_codes)
        wanted |= {
            ist
            for ist, entry in self.data.items()
            if analyzer in ((entry or {}).get("by_analyzer") or {})
        }
        return frozenset(c for ist in wanted for c in self.codes(analyzer, ist))

    def all_codes(self) -> set[str]:
        found: set[str] = set()
        for entry in self.data.values():
            found.update((entry or {}).get("codes") or ())
            for codes in ((entry or {}).get("by_analyzer") or {}).values():
                found.update(codes)
        return found


def load_cases(path: Path = EXPECTED) -> tuple[dict[str, Any], list[Case]]:
    """The source block and the in-scope cases of ``expected.yaml``."""
    data = yaml.safe_load(path.read_text())
    cases = [
        Case(
            name=c["case"],
            istio_name=c["istio_name"],
            analyzer=c["analyzer"],
            inputs=tuple(c["inputs"]),
            mesh_config=c.get("mesh_config"),
            expected=tuple(
                Message(m["code"], m["type"], m["level"], Ref(**m["resource"]))
                for m in c["expected"]
            ),
        )
        for c in data["cases"]
    ]
    return data, cases


def load_known(path: Path = KNOWN) -> list[dict[str, str]]:
    """The excused differences: each with case, kind, resource, code and reason."""
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    entries: list[dict[str, str]] = list(data.get("differences") or [])
    for entry in entries:
        missing = {"case", "kind", "resource", "code", "reason"} - entry.keys()
        if missing:
            raise ValueError(f"known_differences.yaml: {entry} lacks {sorted(missing)}")
    return entries


def _options(case: Case) -> CheckOptions:
    """Options as ``meshrc check --only python --no-cache`` would build them, with the case's
    mesh config (the settings meshrc reads of it) as istioctl's --meshConfigFile."""
    options = CheckOptions(default_namespace=DEFAULT_NAMESPACE, only="python", workers=1)
    if not case.mesh_config:
        return options
    raw = yaml.safe_load((case.folder / "meshconfig.yaml").read_text()) or {}
    known = {info.alias or name for name, info in MeshSettings.model_fields.items()}
    settings = MeshSettings.model_validate({k: v for k, v in raw.items() if k in known})
    return dataclasses.replace(options, mesh=settings)


def check_case(case: Case) -> list[Finding]:
    """meshrc's findings on the case's inputs, checked in process."""
    files = directory_files(case.folder / "inputs", f"{case.name}/")
    return check_files(files, _options(case)).findings


def _said(findings: Sequence[Finding]) -> str:
    if not findings:
        return "nothing"
    return "; ".join(f"{f.code} ({f.severity}): {f.message}" for f in findings)


def reported_by(cases: Iterable[Case]) -> dict[str, set[str]]:
    """The IST codes each analyzer is expected to report somewhere in the grid."""
    found: dict[str, set[str]] = {}
    for case in cases:
        found.setdefault(case.analyzer, set()).update(m.code for m in case.expected)
    return found


def compare(
    case: Case, findings: list[Finding], mapping: Mapping, ist_codes: Iterable[str] = ()
) -> CaseResult:
    """Match one case's expected messages with meshrc's findings; ``ist_codes`` are what the
    case's analyzer reports in other cases (a case where Istio expects nothing still has the
    analyzer's codes in scope)."""
    result = CaseResult(case, findings=len(findings))
    wanted = {m.code for m in case.expected} | set(ist_codes)
    scope = mapping.analyzer_codes(case.analyzer, wanted)
    in_scope = [f for f in findings if f.code in scope]
    result.out_of_scope = len(findings) - len(in_scope)
    unused = list(in_scope)
    # the most constrained messages first, so that a finding two messages could take goes
    # to the one with no alternative
    order = sorted(case.expected, key=lambda m: len(mapping.codes(case.analyzer, m.code)))
    for message in order:
        codes = mapping.codes(case.analyzer, message.code)
        hit = next((f for f in unused if f.code in codes and message.resource.names(f)), None)
        if hit is None:
            on_resource = [f for f in findings if message.resource.names(f)]
            result.differences.append(
                Difference(
                    case.name,
                    case.analyzer,
                    "missed",
                    str(message.resource),
                    message.code,
                    f"{message.code} {message.type} ({message.level})",
                    _said(on_resource),
                )
            )
        else:
            unused.remove(hit)
            result.matched.append((message, hit))
    for finding in unused:
        ref = Ref(finding.kind or "", finding.namespace, finding.name or "")
        said_by_istio = [
            m
            for m in case.expected
            if m.resource.names(finding) and finding.code in mapping.codes(case.analyzer, m.code)
        ]
        error = finding.severity == Severity.ERROR
        kind: Literal["false-positive", "extra"] = (
            "false-positive" if error and not said_by_istio else "extra"
        )
        istio = ", ".join(f"{m.code} {m.type}" for m in said_by_istio) or "nothing"
        result.differences.append(
            Difference(
                case.name,
                case.analyzer,
                kind,
                str(ref) if finding.kind else f"file {finding.file}",
                finding.code,
                istio,
                _said([finding]),
            )
        )
    return result


def run(
    cases: Sequence[Case] | None = None,
    mapping: Mapping | None = None,
    known: list[dict[str, str]] | None = None,
) -> Parity:
    """Check every case and compare with Istio's expectations."""
    data, all_cases = load_cases()
    mapping = mapping or Mapping.load()
    known = load_known() if known is None else known
    excuses = {(k["case"], k["kind"], k["resource"], k["code"]): k for k in known}
    used: set[tuple[str, str, str, str]] = set()
    results: list[CaseResult] = []
    codes_of = reported_by(all_cases)
    for case in cases if cases is not None else all_cases:
        result = compare(case, check_case(case), mapping, codes_of.get(case.analyzer, ()))
        for i, difference in enumerate(result.differences):
            excuse = excuses.get(difference.key())
            if excuse is not None:
                used.add(difference.key())
                result.differences[i] = dataclasses.replace(difference, reason=excuse["reason"])
        results.append(result)
    mapped = mapping.all_codes()
    unmapped = {
        name: code.istio_code
        for name, code in sorted(CODES.items())
        if code.istio_code and code.checked_by == "python" and name not in mapped
    }
    return Parity(
        commit=data["source"]["commit"],
        results=results,
        unused_known=[k for key, k in excuses.items() if key not in used],
        unmapped_meshrc_codes=unmapped,
        codes_not_in_meshrc=sorted(mapped - CODES.keys()),
        out_of_scope_analyzers=data.get("out_of_scope") or {},
    )
