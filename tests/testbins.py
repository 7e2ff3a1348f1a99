"""Pinned binaries that the tests run for real: OPA, and the etcd and kube-apiserver of
:mod:`reconciler.testenv` (whose ``binaries`` module builds them all, so that users can too).

Each binary is built from source with Go into ``~/.cache/meshrc-testbin/<name>-<version>/``
(keyed by version, so a rerun is instant and a version bump builds anew), with the module and
build caches left at Go's defaults so that they persist too. An environment variable can point
at a binary built elsewhere.

    python3 tests/testbins.py opa      # build if missing, print the path (used by .ci/run)
    python3 tests/testbins.py etcd     # likewise etcd and kube-apiserver
    python3 tests/testbins.py helm     # and Helm, for the chart's tests (tests/chart)

Pytest never builds (a cold build takes minutes): its fixtures only *find* the binaries and
fail under ``CI=true`` or skip elsewhere when one is missing; ``.ci/run`` builds them first.
"""

from __future__ import annotations

import sys

from reconciler.testenv.binaries import HELM, SERVERS, GoInstalled, PinnedBinary, TestEnvError

OPA = GoInstalled(
    name="opa",
    version="v1.22.3",
    package="github.com/open-policy-agent/opa",
    env_var="MESHRC_OPA_BINARY",
)

BINARIES: dict[str, PinnedBinary] = {binary.name: binary for binary in (OPA, *SERVERS, HELM)}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in BINARIES:
        print(f"usage: testbins.py {{{'|'.join(BINARIES)}}}", file=sys.stderr)
        return 2
    try:
        print(BINARIES[argv[0]].build())
    except TestEnvError as exc:
        print(f"testbins.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
