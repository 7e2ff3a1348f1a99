"""Run the policies of one check, overlapping the Python checks where the machine allows.

The embedded engine holds the GIL for its whole evaluation, so on a large mesh it runs in a
forked worker while this process validates and checks in Python: on two cores the two halves
of the check take the time of the longer one, not of both. An OPA server waits on the network,
so it runs in a thread. Small meshes run inline: a worker would cost more than it saves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from reconciler.findings import Finding
from reconciler.policy.bundle import PolicyBundle
from reconciler.policy.decisions import to_findings
from reconciler.policy.engines import Engine
from reconciler.policy.inputs import build_input
from reconciler.processes import fork_is_safe, worker_context
from reconciler.source.loading import Document

BACKGROUND_MIN_DOCUMENTS = 2_000


@dataclass(frozen=True)
class PolicyJob:
    """Everything one evaluation needs."""

    documents: list[Document]
    bundle: PolicyBundle
    engine: Engine
    default_namespace: str
    commit: dict[str, str] | None

    def run(self) -> list[Finding]:
        document = build_input(
            self.documents, self.default_namespace, self.commit, self.bundle.input_kinds
        )
        return to_findings(self.engine.evaluate(self.bundle, document), document)


# The job a forked worker runs, read from the memory it inherited (documents are not pickled).
_INHERITED: PolicyJob | None = None


def _run_inherited() -> list[Finding]:
    assert _INHERITED is not None
    return _INHERITED.run()


@contextmanager
def evaluating(job: PolicyJob | None) -> Iterator[Callable[[], list[Finding]]]:
    """Start ``job``; the yielded function waits for its findings (or raises its error)."""
    global _INHERITED
    if job is None:
        yield list
        return
    if len(job.documents) < BACKGROUND_MIN_DOCUMENTS:
        yield job.run
        return
    executor: Executor
    if job.engine.name == "embedded" and fork_is_safe():
        _INHERITED = job
        executor = ProcessPoolExecutor(max_workers=1, mp_context=worker_context(True))
        future: Future[Any] = executor.submit(_run_inherited)
    else:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meshrc-policy")
        future = executor.submit(job.run)
    try:
        yield future.result
    finally:
        _INHERITED = None
        future.cancel()
        executor.shutdown(wait=True)
