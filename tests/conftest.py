"""Fixtures shared by every test folder: the pinned binaries of ``testbins.py``.

A missing binary fails its tests under ``CI=true`` (``.ci/run`` must have built it) and skips
them elsewhere, with the reason printed and the command that builds it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest
from testbins import OPA, PinnedBinary

from reconciler.errors import VerifyError
from reconciler.verify.envoy import find_envoy


def require_binary(binary: PinnedBinary) -> Path:
    """The binary's path; fail under CI, skip elsewhere, when it is not there."""
    found = binary.find()
    if found is not None:
        return found
    where = os.environ.get(binary.env_var) or str(binary.cached)
    reason = (
        f"{binary.name} {binary.version} not found at {where} "
        f"(build it: python3 tests/testbins.py {binary.name})"
    )
    unavailable(reason, "CI must build it (.ci/run)")


def unavailable(reason: str, in_ci: str) -> NoReturn:
    """Fail under CI (where ``.ci/run`` provides everything), skip elsewhere, saying why."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; {in_ci}", pytrace=False)
    print(f"skipping: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def opa_binary() -> Path:
    """The pinned OPA (MESHRC_OPA_BINARY, else the cached build)."""
    return require_binary(OPA)


@pytest.fixture(scope="session")
def envoy_binary() -> str:
    """The Envoy to run (MESHRC_ENVOY_BINARY, PATH, or beside this Python)."""
    try:
        return find_envoy()
    except VerifyError as exc:
        unavailable(str(exc), "CI must install it (.ci/run)")
