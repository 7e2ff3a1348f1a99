"""Pinned server binaries, found or built from source with Go in one place.

Each binary is built into ``~/.cache/meshrc-testbin/<name>-<version>/`` (keyed by version, so a
rerun is instant and a version bump builds anew), with Go's module and build caches left at
their defaults so that they persist too. An environment variable can name a binary built
elsewhere. ``python -m reconciler.testenv build`` and ``tests/testbins.py`` both build here.

etcd and kube-apiserver cannot be ``go install``-ed: their modules' go.mod files point at
sibling folders with relative ``replace`` directives, which Go ignores outside the module
itself. They are built from a throwaway local module that requires them instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import MeshrcError

CACHE_ROOT = Path.home() / ".cache" / "meshrc-testbin"


class TestEnvError(MeshrcError):
    """A test environment could not run: a binary is missing or would not build, or a server
    did not start."""

    __test__ = False  # not a pytest test class, despite the name


def go_command() -> str:
    """The Go toolchain: PATH, else the official installer's /usr/local/go."""
    found = shutil.which("go") or shutil.which("/usr/local/go/bin/go")
    if found is None:
        raise TestEnvError("building the test binaries needs Go (https://go.dev/dl/) on PATH")
    return found


@dataclass(frozen=True)
class PinnedBinary(ABC):
    """A binary built from a pinned module version, or named by ``env_var``."""

    name: str
    version: str
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
        path = Path(named) if named else self.cached
        return path if path.is_file() and os.access(path, os.X_OK) else None

    def require(self) -> Path:
        """The binary, or an error that says how to get it."""
        found = self.find()
        if found is None:
            self._check_override()
            raise TestEnvError(
                f"{self.name} {self.version} is not built ({self.cached}): build it with "
                f"`python -m reconciler.testenv build` (needs Go), or set {self.env_var}"
            )
        return found

    def build(self) -> Path:
        """Build the pinned version into the cache unless it is there already; Go's output
        goes to stderr, so that stdout can carry the path."""
        found = self.find()
        if found is not None:
            return found
        self._check_override()
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        try:
            self._compile(go_command(), env)
        except subprocess.CalledProcessError as exc:
            raise TestEnvError(f"building {self.name} {self.version} failed: {exc}") from exc
        if not self.cached.is_file():
            raise TestEnvError(f"building {self.name} {self.version} did not produce {self.cached}")
        return self.cached

    def _check_override(self) -> None:
        """A binary named by ``env_var`` is used as it is, never built."""
        named = os.environ.get(self.env_var)
        if named:
            raise TestEnvError(f"{self.env_var}={named} is not an executable file")

    @abstractmethod
    def _compile(self, go: str, env: dict[str, str]) -> None:
        """Produce ``self.cached`` (or raise CalledProcessError)."""


def _run(command: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    """Run a Go command, its progress on stderr; its stdout returned."""
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return done.stdout


@dataclass(frozen=True)
class GoInstalled(PinnedBinary):
    """A command whose module builds with plain ``go install module@version``."""

    package: str

    def _compile(self, go: str, env: dict[str, str]) -> None:
        _run(
            [go, "install", f"{self.package}@{self.version}"], {**env, "GOBIN": str(self.directory)}
        )


@dataclass(frozen=True)
class ModuleBuilt(PinnedBinary):
    """A command built from a local module that requires ``package@version``."""

    package: str
    tags: tuple[str, ...] = ()

    def _compile(self, go: str, env: dict[str, str]) -> None:
        with tempfile.TemporaryDirectory(dir=self.directory, prefix="module-") as tmp:
            module = Path(tmp)
            _run([go, "mod", "init", f"local/{self.name}"], env, module)
            self._edit_module(go, env, module)
            _run([go, "get", f"{self.package}@{self.version}"], env, module)
            partial = self.directory / f".{self.name}.partial"
            command = [go, "build", "-trimpath", "-ldflags", " ".join(self._ldflags())]
            if self.tags:
                command += ["-tags", ",".join(self.tags)]
            _run([*command, "-o", str(partial), self.package], env, module)
            partial.replace(self.cached)  # never a half-written binary at the cached path

    def _edit_module(self, go: str, env: dict[str, str], module: Path) -> None:
        """Adjust the local go.mod before the requirement is added; nothing by default."""

    def _ldflags(self) -> list[str]:
        return ["-s", "-w"]  # no symbol tables: a smaller binary, a faster link


@dataclass(frozen=True)
class KubernetesBuilt(ModuleBuilt):
    """A command of k8s.io/kubernetes, whose go.mod requires its staging modules (k8s.io/api,
    k8s.io/apiserver...) at v0.0.0 and replaces them with ./staging: the local module replaces
    each with its published release instead (kubernetes v1.X.Y ships them as v0.X.Y)."""

    def _edit_module(self, go: str, env: dict[str, str], module: Path) -> None:
        # Kubernetes's go.mod pins old GODEBUG defaults; Go ignores a dependency's, so restate.
        _run([go, "mod", "edit", "-godebug=default=go1.24"], env, module)
        info = json.loads(_run([go, "mod", "download", "-json", self._kubernetes()], env, module))
        staged = re.findall(
            r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", Path(info["GoMod"]).read_text(), re.M
        )
        if not staged:
            raise TestEnvError(f"no staging modules found in {self._kubernetes()}'s go.mod")
        staging_version = "v0." + self.version.split(".", 1)[1]
        replaces = [f"-replace={name}={name}@{staging_version}" for name in staged]
        _run([go, "mod", "edit", *replaces], env, module)

    def _ldflags(self) -> list[str]:
        major, minor = self.version.removeprefix("v").split(".")[:2]
        base = "k8s.io/component-base/version"
        return [
            *super()._ldflags(),
            f"-X {base}.gitVersion={self.version}",
            f"-X {base}.gitMajor={major}",
            f"-X {base}.gitMinor={minor}",
            f"-X {base}.gitTreeState=clean",
        ]

    def _kubernetes(self) -> str:
        return f"k8s.io/kubernetes@{self.version}"


ETCD = ModuleBuilt(
    name="etcd",
    version="v3.6.16",
    env_var="MESHRC_ETCD_BINARY",
    package="go.etcd.io/etcd/server/v3",
)

KUBE_APISERVER = KubernetesBuilt(
    name="kube-apiserver",
    version="v1.34.4",
    env_var="MESHRC_KUBE_APISERVER_BINARY",
    package="k8s.io/kubernetes/cmd/kube-apiserver",
    tags=("selinux", "notest"),
)

SERVERS = (ETCD, KUBE_APISERVER)
"""What a test environment runs, in the order it starts them."""

HELM = GoInstalled(
    name="helm",
    version="v3.22.0",
    env_var="MESHRC_HELM_BINARY",
    package="helm.sh/helm/v3/cmd/helm",
)
"""Helm, for the chart's tests (charts/mesh-reconciler). Built with ``go install``, it does not
know the Kubernetes version it was released for: pass ``--kube-version`` to ``helm template``."""
