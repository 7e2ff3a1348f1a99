"""Helpers for the ``meshrc check`` tests: the command through click's CliRunner or as a real
process, a small clean mesh and mistakes to add to it, and real Git repositories made with the
git CLI in tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from reconciler.cli.main import cli

REPO_TEMPLATE = Path(__file__).resolve().parents[2] / "repo-template"

SERVICES = """\
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: shop
spec:
  selector:
    app: reviews
  ports:
    - name: http
      port: 9080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
  namespace: shop
spec:
  template:
    metadata:
      labels: {app: reviews, version: v1}
---
apiVersion: v1
kind: Service
metadata:
  name: productpage
  namespace: shop
spec:
  selector:
    app: productpage
  ports:
    - name: http
      port: 9080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: productpage
  namespace: shop
spec:
  template:
    metadata:
      labels: {app: productpage}
"""

ROUTES = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: shop
spec:
  host: reviews
  subsets:
    - name: v1
      labels:
        version: v1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
spec:
  hosts:
    - reviews
  http:
    - route:
        - destination:
            host: reviews
            subset: v1
      timeout: 5s
"""

BASE: dict[str, str] = {"shop/services.yaml": SERVICES, "shop/routes.yaml": ROUTES}
"""A clean mesh: 2 files, 4 resources (2 Services, a DestinationRule, a VirtualService).
Every http route sets a timeout, as meshrc's Rego pack requires (route-timeout-required)."""

# A mesh VirtualService routing to a subset no DestinationRule defines: one error.
MISSING_SUBSET = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: shop
spec:
  hosts:
    - {name}
  http:
    - route:
        - destination:
            host: reviews
            subset: v9
      timeout: 5s
"""

# A DestinationRule subset without labels: one warning.
UNLABELLED_SUBSET = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: productpage
  namespace: shop
spec:
  host: productpage
  subsets:
    - name: all
"""

# Two rules, the second match of which repeats the first: one info.
REPEATED_MATCH = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: mobile
  namespace: shop
spec:
  hosts:
    - mobile
  http:
    - match:
        - uri:
            prefix: /a
      route:
        - destination:
            host: reviews
      timeout: 5s
    - match:
        - uri:
            prefix: /b
        - uri:
            prefix: /a/b
      route:
        - destination:
            host: productpage
      timeout: 5s
"""


def invoke(args: Sequence[str], env: Mapping[str, str] | None = None) -> Result:
    """``meshrc <args>`` through CliRunner, with stdout and stderr apart."""
    return CliRunner().invoke(cli, list(args), env=dict(env or {}), catch_exceptions=True)


def no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr


def findings_of(result: Result) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return findings


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` that contains ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def mesh_dir(root: Path, extra: Mapping[str, str | bytes] | None = None) -> Path:
    """The clean ``BASE`` mesh plus ``extra`` files, in ``root``."""
    write_tree(root, {**BASE, **(extra or {})})
    return root


def meshrc_command() -> list[str]:
    """The installed console script next to this interpreter, else the same entry point."""
    script = shutil.which("meshrc", path=str(Path(sys.executable).parent))
    if script:
        return [script]
    return [sys.executable, "-c", "from reconciler.cli.main import main; main()"]


def run_meshrc(
    args: Sequence[str],
    cwd: Path,
    cache: Path,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """``meshrc <args>`` as a real process in ``cwd``, its cache in ``cache``."""
    full_env = {**os.environ, "MESHRC_CACHE_DIR": str(cache), **(env or {})}
    for name in ("MESHRC_DEBUG", "NO_COLOR"):
        full_env.pop(name, None)
    return subprocess.run(
        [*meshrc_command(), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


# --------------------------------------------------------------------------- git


@dataclass
class Repo:
    """A repository with a work tree, driven by the git CLI."""

    path: Path

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "Dev Eloper",
            "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "Dev Eloper",
            "GIT_COMMITTER_EMAIL": "dev@example.com",
        }
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(
        self, files: Mapping[str, str | bytes], message: str, remove: Sequence[str] = ()
    ) -> str:
        write_tree(self.path, files)
        for name in remove:
            (self.path / name).unlink()
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")

    def state(self) -> tuple[str, str, dict[str, bytes]]:
        """HEAD, ``git status`` and every file of the work tree: to prove nothing changed."""
        files = {
            p.relative_to(self.path).as_posix(): p.read_bytes()
            for p in sorted(self.path.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(self.path).parts
        }
        return self.git("rev-parse", "HEAD"), self.git("status", "--porcelain"), files


def new_repo(path: Path) -> Repo:
    path.mkdir(parents=True)
    repo = Repo(path)
    repo.git("init", "--quiet", "--initial-branch=main")
    return repo
