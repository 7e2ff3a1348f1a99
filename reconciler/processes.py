"""Child processes: workers for CPU-bound work, and the servers meshrc runs (OPA, Envoy).

Parsing and the embedded Rego engine hold the GIL, so only processes use the second core. A
forked worker starts in milliseconds and reads its input from the memory it inherited, where
a spawned one would have to receive it pickled; fork is only safe without other threads.

A server meshrc starts listens on a free loopback port, runs in a session of its own (a
terminal's Ctrl-C reaches meshrc, which stops it) and dies with meshrc even when meshrc is
killed.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.context import BaseContext

from reconciler.errors import MeshrcError


def fork_is_safe() -> bool:
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def worker_context(fork: bool) -> BaseContext:
    """The multiprocessing context: fork when the caller found it safe, else spawn."""
    return multiprocessing.get_context("fork" if fork else "spawn")


def free_port_offset(ports: list[int]) -> int:
    """An offset (20000-39999) that makes every one of ``ports`` free on 127.0.0.1 a moment
    ago: for an Envoy whose listeners keep their relative ports (``portOffset``)."""
    for _ in range(100):
        offset = random.randrange(20000, 40000)
        if all(_bindable(port + offset) for port in ports):
            return offset
    raise MeshrcError(f"no free ports on 127.0.0.1 for {ports} at any offset tried")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (another process may take
    it before the caller binds it: callers that can retry should)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """On Linux, a function for the child to run before exec: the kernel sends it ``signum``
    when meshrc ends, even when meshrc is killed and runs no clean-up of its own (a server
    in a session of its own would otherwise outlive it). SIGKILL for servers whose graceful
    shutdown is slow and needless.

    The kernel watches the *thread* that started the child: a server started from a thread
    that ends before it is terminated then.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        prctl(pr_set_pdeathsig, signum)

    return set_death_signal


def stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; reaped either way (no zombie left)."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class StopsOnExit:
    """``with thing:`` stops the thing at the end of the block, whatever happened in it."""

    def stop(self) -> None:
        raise NotImplementedError

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
