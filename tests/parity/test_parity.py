"""Parity with ``istioctl analyze`` on Istio's analyzer test grid (see README.md here).

    python -m pytest tests/parity -q
    python benchmarks/bench_parity.py       # the full report: every difference

The bar: at least 95% of Istio's expected messages matched, no false-positive errors, and
every remaining difference explained with its reason in ``known_differences.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.codes import CODES

from .harness import BAR, CASES, Mapping, Parity, load_cases, load_known, run


@pytest.fixture(scope="module")
def parity() -> Parity:
    return run()


def _listing(parity: Parity, kind: str) -> str:
    return "\n".join(
        f"  {d.case}: {d.resource}: {d.code} (istio: {d.istio}; meshrc: {d.meshrc})"
        for d in parity.differences
        if d.kind == kind and d.reason is None
    )


def test_no_false_positive_errors(parity: Parity) -> None:
    """meshrc reports no error Istio does not, in the codes of the analyzer under test."""
    print(parity.summary())
    assert parity.count("false-positive", excused=False) == 0, (
        f"{parity.summary()}\n{_listing(parity, 'false-positive')}"
    )


def test_matched_messages_meet_the_bar(parity: Parity) -> None:
    """At least 95% of Istio's expected messages are reported by meshrc, and every message it
    does not report is explained in known_differences.yaml."""
    print(f"{parity.summary()}: {parity.ratio:.1%} of the messages")
    assert parity.ratio >= BAR, (
        f"{parity.summary()}: {parity.ratio:.1%} < {BAR:.0%}\n{_listing(parity, 'missed')}"
    )
    assert parity.count("missed", excused=False) == 0, _listing(parity, "missed")


def test_suite_data_is_consistent() -> None:
    """Every case has its inputs, every expected IST code is mapped, and the mapping and the
    known differences name only things that exist."""
    data, cases = load_cases()
    assert len(data["source"]["commit"]) == 40
    assert (CASES / "NOTICE").is_file() and (CASES / "LICENSE").is_file()
    mapping = Mapping.load()
    names = {c.name for c in cases}
    assert len(names) == len(cases)
    for case in cases:
        inputs = sorted(p.name for p in (case.folder / "inputs").glob("*.yaml"))
        assert inputs, case.name
        assert all(Path(p).name in inputs for p in case.inputs), case.name
        assert (case.folder / "meshconfig.yaml").is_file() == bool(case.mesh_config), case.name
        for message in case.expected:
            assert mapping.codes(case.analyzer, message.code), (case.name, message.code)
    for ist_code, entry in mapping.data.items():
        assert ist_code.startswith("IST") and entry.get("type"), ist_code
    for known in load_known():
        assert known["case"] in names, known
        assert known["kind"] in ("missed", "false-positive", "extra"), known
        assert known["reason"].strip(), known
    # the suite runs the Python checks only: a Rego-pack code could never match
    for entry in mapping.data.values():
        for codes in [entry.get("codes") or [], *(entry.get("by_analyzer") or {}).values()]:
            for code in codes:
                known_code = CODES.get(code)
                assert known_code is None or known_code.checked_by == "python", code
