"""Rego engines behind one interface: the embedded regorus engine, or a real OPA server.

Every engine evaluates one generated query module that gathers, for every package, the
decisions meshrc reads (``findings``, ``deny``, ``warn``, ``violation``), so the input is sent
once per check whatever the number of packages. Errors of the libraries and servers
underneath become :class:`PolicyError` here, with file and line where the engine gives them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from reconciler.errors import PolicyError
from reconciler.policy.bundle import PolicyBundle

DECISION_RULES = ("findings", "deny", "warn", "violation")
QUERY_PACKAGE = "meshrc_internal.query"
QUERY_MODULE = "meshrc-internal/query.rego"
DEFAULT_TIMEOUT = 30.0

# Results: package -> rule -> list of decisions.
Results = dict[str, dict[str, list[Any]]]


class Engine(Protocol):
    """Evaluates a bundle against one input document."""

    name: str

    def evaluate(self, bundle: PolicyBundle, document: dict[str, Any]) -> Results: ...


def query_module(packages: list[str]) -> str:
    """The module that collects every package's decisions into one object."""
    entries = []
    for package in packages:
        ref = "data" + "".join(f'["{part}"]' for part in package.split("."))
        rules = ", ".join(f'"{rule}": [x | some x in {ref}["{rule}"]]' for rule in DECISION_RULES)
        entries.append(f'\t"{package}": {{{rules}}},')
    body = "\n".join(entries)
    return f"package {QUERY_PACKAGE}\n\nresults := {{\n{body}\n}}\n"


class EmbeddedEngine:
    """regorus, Microsoft's Rego engine in Rust, in this process: no server needed."""

    name = "embedded"

    def evaluate(self, bundle: PolicyBundle, document: dict[str, Any]) -> Results:
        import regorus  # imported here: only checks that use Rego pay for it

        engine = regorus.Engine()
        modules = {**bundle.modules, QUERY_MODULE: query_module(bundle.packages)}
        for path, text in modules.items():
            _call(engine.add_policy, path, text)
        _call(engine.add_data_json, json.dumps(bundle.data))
        _call(engine.set_input_json, json.dumps(document))
        raw = _call(engine.eval_rule_as_json, f"data.{QUERY_PACKAGE}.results")
        return _results(json.loads(raw))


def _call(method: Any, *args: Any) -> Any:
    try:
        return method(*args)
    except (RuntimeError, ValueError) as exc:
        raise PolicyError(_regorus_message(str(exc))) from None


def _regorus_message(text: str) -> str:
    """regorus errors: ``--> file:line:col``, a source excerpt, ``error: ...``, a backtrace."""
    text = text.split("Stack backtrace:")[0].strip()
    where = re.search(r"-->\s*(\S+):(\d+):\d+", text)
    what = re.search(r"error:\s*(.+)", text)
    if where and what:
        return f"{where.group(1)}:{where.group(2)}: {what.group(1).strip()}"
    return f"policy evaluation failed: {text.splitlines()[-1] if text else 'unknown error'}"


class OpaServerEngine:
    """A real OPA server through opa-python-client: the policies are loaded through its policy
    API under ``meshrc/``, queried once with the input, and removed again."""

    name = "opa"

    def __init__(self, url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PolicyError(f"--opa-url {url!r} is not an http(s) URL")
        self.url = f"{parts.scheme}://{parts.hostname}:{parts.port or 8181}"
        self._host, self._port = parts.hostname, parts.port or 8181
        self._ssl = parts.scheme == "https"
        self._token = token
        self._timeout = timeout

    def evaluate(self, bundle: PolicyBundle, document: dict[str, Any]) -> Results:
        import requests
        from opa_client import OpaClient
        from opa_client.errors import RegoParseError

        client = OpaClient(
            host=self._host,
            port=self._port,
            ssl=self._ssl,
            token=self._token,
            timeout=self._timeout,
            retries=0,
        )
        modules = {**bundle.modules, QUERY_MODULE: query_module(bundle.packages)}
        ids = {path: f"meshrc/{index:04d}" for index, path in enumerate(modules)}
        try:
            for path, text in modules.items():
                client.update_policy_from_string(text, ids[path], rego_compat=False)
            for key, value in bundle.data.items():
                client.update_or_create_data(value, key)
            answer = client.query_rule(document, QUERY_PACKAGE, "results")
        except RegoParseError as exc:
            raise PolicyError(_opa_message(exc.errors, exc.message, ids)) from None
        except requests.exceptions.Timeout:
            raise PolicyError(
                f"OPA at {self.url} did not answer within {self._timeout:g} s (--policy-timeout)"
            ) from None
        except requests.exceptions.ConnectionError:
            raise PolicyError(f"OPA at {self.url} is unreachable") from None
        except requests.exceptions.HTTPError as exc:
            raise PolicyError(_http_message(self.url, exc.response)) from None
        except Exception as exc:  # the client raises its own error classes for the rest
            message = getattr(exc, "message", None) or str(exc)
            raise PolicyError(f"OPA at {self.url} failed: {message}") from None
        finally:
            for policy_id in ids.values():
                with contextlib.suppress(Exception):
                    client.delete_policy(policy_id)
            client.close_connection()
        if "result" not in answer:
            raise PolicyError(f"OPA at {self.url} returned no result for the query")
        return _results(answer["result"])


def _opa_message(errors: Any, message: Any, ids: dict[str, str]) -> str:
    by_id = {policy_id: path for path, policy_id in ids.items()}
    for error in errors or ():
        location = error.get("location") or {}
        file = by_id.get(location.get("file", ""), location.get("file", "?"))
        return f"{file}:{location.get('row', '?')}: {error.get('message', message)}"
    return f"OPA rejected the policies: {message}"


def _http_message(url: str, response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        body = {}
    errors = body.get("errors") or []
    detail = body.get("message") or (errors[0].get("message") if errors else "") or ""
    if errors and (errors[0].get("location") or {}).get("file"):
        location = errors[0]["location"]
        detail = (
            f"{location['file']}:{location.get('row', '?')}: {errors[0].get('message', detail)}"
        )
    status = getattr(response, "status_code", "?")
    if status in (401, 403):
        return f"OPA at {url} refused the request ({status}): check --opa-token / MESHRC_OPA_TOKEN"
    return f"OPA at {url} answered {status}: {detail}".rstrip(": ")


def _results(value: Any) -> Results:
    if not isinstance(value, dict):
        raise PolicyError("policy query returned no results object")
    return {
        str(package): {rule: list(rules.get(rule) or []) for rule in DECISION_RULES}
        for package, rules in value.items()
        if isinstance(rules, dict)
    }


@contextlib.contextmanager
def managed_opa(binary: str | None = None, startup_timeout: float = 20.0) -> Iterator[str]:
    """Start ``opa run --server`` on a free loopback port; yield its URL; stop it afterwards."""
    path = binary or os.environ.get("MESHRC_OPA_BINARY") or shutil.which("opa")
    if not path or not Path(path).exists():
        raise PolicyError(
            "--policy-engine opa needs --opa-url or an `opa` binary on PATH (or MESHRC_OPA_BINARY)"
        )
    port = _free_port()
    command = [
        path,
        "run",
        "--server",
        "--addr",
        f"127.0.0.1:{port}",
        "--disable-telemetry",
        "--log-level",
        "error",
    ]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise PolicyError(f"cannot start {path}: {exc.strerror}") from None
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, port, startup_timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_healthy(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            raise PolicyError(f"opa exited with {process.returncode} at start: {err[-500:]}")
        health = f"http://127.0.0.1:{port}/health"
        with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=0.5) as answer:
            if answer.status == 200:
                return
        time.sleep(0.05)
    raise PolicyError(f"opa did not listen on 127.0.0.1:{port} within {timeout:g} s")
