"""Pinned binaries that the tests run for real, found or built in one place.

Each binary is built from source with Go into ``~/.cache/meshrc-testbin/<name>-<version>/``
(keyed by version, so a rerun is instant and a version bump builds anew), with the module and
build caches left at Go's defaults so that they persist too. An environment variable can point
at a binary built elsewhere.

    python3 tests/testbins.py opa      # build if missing, print the path (used by .ci/run)

Pytest never builds (a cold build takes minutes): its fixtures only *find* the binaries and
fail under ``CI=true`` or skip elsewhere when one is missing; ``.ci/run`` builds them first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CACHE_ROOT = Path.home() / ".cache" / "meshrc-testbin"


@dataclass(frozen=True)
class PinnedBinary:
    """A binary ``go install``-ed from a pinned module version."""

    name: str
    version: str
    package: str
    env_var: str

    @property
    def directory(self) -> Path:
        return CACHE_ROOT / f"{self.name}-{self.version}"

    @property
    def cached(self) -> Path:
        return self.directory / self.name

    def find(self) -> Path | None:
        """The binary named by ``env_var``, else the cached build; None when neither exists."""
        named = os.environ.get(self.env_var)
        if named:
            path = Path(named)
            return path if path.is_file() and os.access(path, os.X_OK) else None
        return self.cached if self.cached.is_file() and os.access(self.cached, os.X_OK) else None

    def build(self) -> Path:
        """``go install`` the pinned version into the cache (unless it is there already)."""
        found = self.find()
        if found is not None:
            return found
        if os.environ.get(self.env_var):
            raise RuntimeError(f"{self.env_var}={os.environ[self.env_var]} is not an executable")
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOBIN": str(self.directory),
            "GOFLAGS": "-mod=mod",
        }
        subprocess.run(
            ["go", "install", f"{self.package}@{self.version}"],
            env=env,
            check=True,
            stdout=sys.stderr,
        )
        if not self.cached.is_file():
            raise RuntimeError(f"go install did not produce {self.cached}")
        return self.cached


OPA = PinnedBinary(
    name="opa",
    version="v1.22.3",
    package="github.com/open-policy-agent/opa",
    env_var="MESHRC_OPA_BINARY",
)

BINARIES = {binary.name: binary for binary in (OPA,)}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in BINARIES:
        print(f"usage: testbins.py {{{'|'.join(BINARIES)}}}", file=sys.stderr)
        return 2
    print(BINARIES[argv[0]].build())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
