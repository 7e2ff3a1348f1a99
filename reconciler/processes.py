"""Worker processes for CPU-bound work on a few cores.

Parsing and the embedded Rego engine hold the GIL, so only processes use the second core. A
forked worker starts in milliseconds and reads its input from the memory it inherited, where
a spawned one would have to receive it pickled; fork is only safe without other threads.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.context import BaseContext


def fork_is_safe() -> bool:
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def worker_context(fork: bool) -> BaseContext:
    """The multiprocessing context: fork when the caller found it safe, else spawn."""
    return multiprocessing.get_context("fork" if fork else "spawn")
