"""``python -m reconciler.testenv``: build the binaries, run a test API server in the
foreground (``up``) and stop one that runs in the background (``down``).

``up`` writes its process id to ``DIR/testenv.pid`` and removes it, last, when it has stopped
the servers: ``down`` signals that process and waits for the file to go.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import click

from reconciler.errors import MeshrcError
from reconciler.testenv.binaries import SERVERS, TestEnvError
from reconciler.testenv.env import DEFAULT_CRDS, TestEnv

PID_FILE = "testenv.pid"
DOWN_TIMEOUT = 30.0
_DIRECTORY = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Holds etcd's data, the credentials, the logs and the kubeconfig.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def testenv() -> None:
    """A real Kubernetes API server (etcd + kube-apiserver) on loopback, for trying meshrc
    without a cluster. No nodes: resources are stored and validated, nothing runs them."""


@testenv.command()
def build() -> None:
    """Build the pinned etcd and kube-apiserver with Go (minutes, once per version)."""
    for binary in SERVERS:
        click.echo(binary.build())


@testenv.command()
@_DIRECTORY
@click.option(
    "--crds",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"CRDs to install (repeatable), instead of Istio's networking CRDs ({DEFAULT_CRDS.name}).",
)
@click.option("--namespace", "namespaces", multiple=True, help="Create it (repeatable).")
def up(directory: Path, crds: tuple[Path, ...], namespaces: tuple[str, ...]) -> None:
    """Start an API server and run until interrupted (Ctrl-C, SIGTERM or `down`)."""
    pid_file = directory / PID_FILE
    running = _read_pid(pid_file)
    if running is not None and _alive(running):
        raise TestEnvError(f"a test environment runs in {directory} already (pid {running})")
    directory.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    # SIGINT too: a shell starts a background job with SIGINT ignored, and Python then leaves
    # it so.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_on_signal)
    started = time.monotonic()
    env = TestEnv(directory, crds=list(crds) or None, namespaces=namespaces)
    try:
        with env:
            click.echo(
                f"API server {env.server} ready in {time.monotonic() - started:.1f} s", err=True
            )
            click.echo(f"kubeconfig: {env.kubeconfig}")
            click.echo(f"export KUBECONFIG={env.kubeconfig}")
            sys.stdout.flush()
            while env.running:
                time.sleep(0.5)
            raise TestEnvError(
                f"a server of the test environment exited; see the logs in {directory}"
            )
    except KeyboardInterrupt:
        pass
    finally:
        pid_file.unlink(missing_ok=True)


@testenv.command()
@_DIRECTORY
def down(directory: Path) -> None:
    """Stop the test environment `up` runs in DIR (nothing to do when none runs)."""
    pid_file = directory / PID_FILE
    pid = _read_pid(pid_file)
    if pid is None or not _alive(pid):
        pid_file.unlink(missing_ok=True)
        click.echo(f"no test environment runs in {directory}", err=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT
    while pid_file.exists() and _alive(pid):
        if time.monotonic() > deadline:
            raise TestEnvError(
                f"the test environment (pid {pid}) did not stop in {DOWN_TIMEOUT:g} s"
            )
        time.sleep(0.1)
    click.echo(f"stopped the test environment in {directory}", err=True)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through `with env`, which stops the servers


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """A process with this id runs `reconciler.testenv` (not another that reused the id)."""
    if not Path("/proc").is_dir():  # no way to tell what it runs: trust the id
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's
            return True
        return True
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"reconciler.testenv" in command


def main() -> None:
    try:
        testenv(prog_name="python -m reconciler.testenv")
    except MeshrcError as exc:
        click.echo(f"testenv: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
