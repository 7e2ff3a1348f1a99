"""Policies of a large mesh run in a forked worker beside the Python checks, with the same
findings and errors as inline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import PolicyError
from reconciler.policy import evaluating as evaluating_module
from reconciler.policy.bundle import PolicyFolder, load_bundle
from reconciler.policy.engines import EmbeddedEngine
from reconciler.policy.evaluating import PolicyJob, evaluating
from reconciler.source.loading import Document

POLICY = """\
package team.sizes

findings contains f if {
\tsome r in input.resources
\tr.kind == "Service"
\tendswith(r.metadata.name, "7")
\tf := {
\t\t"code": "sevens", "severity": "warning", "message": r.metadata.name,
\t\t"resource": {"kind": r.kind, "namespace": r.metadata.namespace, "name": r.metadata.name},
\t\t"field": "metadata.name",
\t}
}
"""

CONFLICT = "package team.conflict\n\nx := 1 if true\n\nx := 2 if true\n\ndeny contains x\n"


def _documents(count: int) -> list[Document]:
    return [
        Document(
            f"svc{i}.yaml",
            0,
            1,
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc{i}"}, "spec": {}},
        )
        for i in range(count)
    ]


def _job(policy: str, count: int) -> PolicyJob:
    bundle = load_bundle([PolicyFolder("team", {"p.rego": policy.encode()})])
    return PolicyJob(_documents(count), bundle, EmbeddedEngine(), "default", None)


def test_a_large_mesh_is_evaluated_in_another_process_with_the_same_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    original = EmbeddedEngine.evaluate

    def recording(self: EmbeddedEngine, *args: Any) -> Any:
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return original(self, *args)

    monkeypatch.setattr(EmbeddedEngine, "evaluate", recording)
    job = _job(POLICY, evaluating_module.BACKGROUND_MIN_DOCUMENTS)
    with evaluating(job) as result:
        background = result()
    inline = job.run()
    assert background == inline
    assert len(inline) == evaluating_module.BACKGROUND_MIN_DOCUMENTS // 10
    worker, here = (int(pid) for pid in pids.read_text().split())
    assert here == os.getpid() and worker != here


def test_a_small_mesh_is_evaluated_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    original = EmbeddedEngine.evaluate

    def recording(self: EmbeddedEngine, *args: Any) -> Any:
        seen.append(os.getpid())
        return original(self, *args)

    monkeypatch.setattr(EmbeddedEngine, "evaluate", recording)
    with evaluating(_job(POLICY, 20)) as result:
        assert [f.message for f in result()] == ["svc17", "svc7"]
    assert seen == [os.getpid()]


@pytest.mark.parametrize("count", [20, evaluating_module.BACKGROUND_MIN_DOCUMENTS])
def test_errors_reach_the_caller_from_either_path(count: int) -> None:
    with evaluating(_job(CONFLICT, count)) as result, pytest.raises(PolicyError):
        result()


def test_no_job_has_no_findings() -> None:
    with evaluating(None) as result:
        assert result() == []
