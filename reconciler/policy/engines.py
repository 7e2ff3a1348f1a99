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
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from reconciler.errors import PolicyError
from reconciler.policy.bundle import PACKAGE_PATTERN, PolicyBundle
from reconciler.processes import die_with_parent, stop_process
from reconciler.processes import free_port as _free_port

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


def query_module(packages: list[str], package: str = QUERY_PACKAGE) -> str:
    """The module that collects every package's decisions into one object.

    Each decision is taken as the policy defines it (``[]`` when it does not), so that a
    ``deny`` that is not a set is reported by :func:`_results` rather than iterated into
    characters or rejected by the type checker with a message about this generated module.
    """
    helpers, entries = [], []
    for number, name in enumerate(packages):
        ref = "data" + "".join(f'["{part}"]' for part in name.split("."))
        rules = []
        for rule in DECISION_RULES:
            helper = f"p{number}_{rule}"
            helpers.append(f'default {helper} := []\n\n{helper} := {ref}["{rule}"]\n')
            rules.append(f'"{rule}": {helper}')
        entries.append(f'\t"{name}": {{{", ".join(rules)}}},')
    body = "\n".join(entries)
    return f"package {package}\n\n{chr(10).join(helpers)}\nresults := {{\n{body}\n}}\n"


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
    API under ``meshrc/<run>/``, the data under its top-level keys, queried once with the
    input, and both removed again.

    ``<run>`` is new for every evaluation, and so is the generated query package, so that two
    checks sharing a server do not replace or delete each other's modules. The data keys are
    shared, though: checks with different data or parameters should not share a server.

    ``clean_up=False`` is for a server meshrc started itself and stops afterwards: each
    removal makes OPA recompile what is left, time that buys nothing there. The policies then
    stay loaded, and the next evaluation of the same bundle (the base of a pull request) only
    sends its input.
    """

    name = "opa"

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clean_up: bool = True,
    ):
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise PolicyError(f"--opa-url {url!r} has an invalid port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PolicyError(f"--opa-url {url!r} is not an http(s) URL")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise PolicyError(f"--opa-url {url!r}: give the server's root, scheme://host:port")
        port = port or (443 if parts.scheme == "https" else 80)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self.url = f"{parts.scheme}://{host}:{port}"
        self._host, self._port = host, port
        self._ssl = parts.scheme == "https"
        self._token = token
        self._timeout = timeout
        self._clean_up = clean_up
        self._resident: tuple[str, str] | None = None  # (bundle fingerprint, query package)

    def evaluate(self, bundle: PolicyBundle, document: dict[str, Any]) -> Results:
        import requests
        from opa_client import OpaClient

        client = OpaClient(
            host=self._host,
            port=self._port,
            ssl=self._ssl,
            token=self._token,
            timeout=self._timeout,
            retries=0,
        )
        run = uuid.uuid4().hex[:12]
        query_package = f"{QUERY_PACKAGE}_{run}"
        modules = {**bundle.modules, QUERY_MODULE: query_module(bundle.packages, query_package)}
        ids = {path: f"meshrc/{run}/{index:04d}" for index, path in enumerate(modules)}
        loaded: list[str] = []
        written: list[str] = []
        fingerprint = bundle.fingerprint()
        try:
            if self._resident and self._resident[0] == fingerprint:
                query_package = self._resident[1]
            elif self._resident:
                raise PolicyError("a server meshrc started holds another bundle already")
            else:
                _load_modules(client, modules, ids, loaded)
                for key, value in bundle.data.items():
                    _put_data(client, key, value, self._timeout)
                    written.append(key)
                if not self._clean_up:
                    self._resident = (fingerprint, query_package)
            answer = client.query_rule(document, query_package, "results")
        except requests.exceptions.Timeout:
            raise PolicyError(
                f"OPA at {self.url} did not answer within {self._timeout:g} s (--policy-timeout)"
            ) from None
        except requests.exceptions.SSLError:
            raise PolicyError(
                f"OPA at {self.url}: the TLS handshake failed (is its certificate trusted?)"
            ) from None
        except requests.exceptions.ConnectionError:
            raise PolicyError(f"OPA at {self.url} is unreachable") from None
        except requests.exceptions.HTTPError as exc:
            raise PolicyError(_http_message(self.url, exc.response, ids)) from None
        except requests.exceptions.JSONDecodeError:
            raise PolicyError(
                f"OPA at {self.url} answered with something that is not OPA's JSON "
                "(is --opa-url an OPA server?)"
            ) from None
        except Exception as exc:  # the client's own error classes: (code, message[, errors])
            raise PolicyError(_client_message(self.url, exc, ids)) from None
        finally:
            if self._clean_up:
                _clean_up(client, loaded, written)
            else:
                client.close_connection()
        if not isinstance(answer, dict) or "result" not in answer:
            raise PolicyError(f"OPA at {self.url} returned no result for the query")
        return _results(answer["result"])


def _load_modules(
    client: Any, modules: dict[str, str], ids: dict[str, str], loaded: list[str]
) -> None:
    """PUT every module through the policy API, in as many rounds as it takes.

    OPA compiles each module against those already loaded, so a module calling a function of
    a module that comes later is refused ("undefined function"); it is tried again once the
    others are in. A round that loads nothing more ends it with the error of its first module
    (now the real error: everything else it could need is loaded). Syntax errors and refusals
    other than compile errors end it at once.
    """
    from opa_client.errors import RegoParseError

    pending = _dependencies_first(modules)
    while pending:
        postponed: list[str] = []
        first: RegoParseError | None = None
        for path in pending:
            # Listed before the PUT (one that timed out may still land), and moved to the end
            # once loaded: ``loaded`` ends in the order modules were loaded in.
            if ids[path] in loaded:
                loaded.remove(ids[path])
            loaded.append(ids[path])
            try:
                client.update_policy_from_string(modules[path], ids[path], rego_compat=False)
            except RegoParseError as exc:
                if not _may_need_another_module(exc):
                    raise
                postponed.append(path)
                first = first or exc
        if first is not None and len(postponed) == len(pending):
            raise first
        pending = postponed


def _dependencies_first(modules: dict[str, str]) -> list[str]:
    """The module paths ordered so that a module whose package others reference (``data.x.y``)
    comes before them, where the references allow: every PUT makes OPA compile all it holds,
    so a refused one that must be sent again costs as much as a good one."""
    packages = {path: set(PACKAGE_PATTERN.findall(text)) for path, text in modules.items()}
    references = {
        path: {r[1:] for r in _DATA_REFERENCE.findall(text)} for path, text in modules.items()
    }

    def needs(path: str, other: str) -> bool:
        return other != path and any(
            ref == package or ref.startswith(package + ".")
            for ref in references[path]
            for package in packages[other]
        )

    ordered: list[str] = []
    pending = list(modules)
    while pending:
        ready = [p for p in pending if not any(needs(p, o) for o in pending)] or pending[:1]
        ordered.extend(ready)
        pending = [p for p in pending if p not in ready]
    return ordered


_DATA_REFERENCE = re.compile(r"\bdata((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _may_need_another_module(exc: Any) -> bool:
    """A compile error (not a syntax error, nor a refusal) can come from a missing module."""
    errors = [e for e in getattr(exc, "errors", None) or () if isinstance(e, dict)]
    return (
        getattr(exc, "expression", None) == "invalid_parameter"
        and bool(errors)
        and all(e.get("code") != "rego_parse_error" for e in errors)
    )


def _put_data(client: Any, key: str, value: Any, timeout: float) -> None:
    """PUT one top-level document. (The client's ``update_or_create_data`` takes objects only,
    and its ``patch_data`` cannot address the root: OPA redirects ``/v1/data/`` and the body
    is lost on the way.)"""
    url = f"{client.root_url}/data/{quote(key, safe='')}"
    response = client._session.put(url, json=value, timeout=timeout)
    response.raise_for_status()


def _clean_up(client: Any, policy_ids: list[str], data_keys: list[str]) -> None:
    """Remove what this evaluation loaded: the modules in the reverse order of loading (OPA
    refuses to delete a module that others still call), in rounds while that removes more,
    then the data.

    An answer of OPA's other than "not found" leaves that item for the next round; a server
    that is down or stuck ends the clean-up, which would otherwise cost a timeout an item.
    """
    import requests

    try:
        pending = list(reversed(policy_ids))
        while pending:
            refused = []
            for policy_id in pending:
                try:
                    client.delete_policy(policy_id)
                except requests.exceptions.RequestException:
                    return
                except Exception as exc:  # OPA's answer
                    if getattr(exc, "expression", None) != "resource_not_found":
                        refused.append(policy_id)
            if len(refused) == len(pending):
                break
            pending = refused
        for key in data_keys:
            try:
                client.delete_data(quote(key, safe=""))
            except requests.exceptions.RequestException:
                return
            except Exception:  # OPA's answer: nothing more to do about it
                continue
    finally:
        client.close_connection()


_UNAUTHORIZED = "refused the request: check the token in MESHRC_OPA_TOKEN"


def _unmapped(text: str, ids: dict[str, str]) -> str:
    """``text`` with the policy ids OPA knows the modules by replaced by their file names."""
    for path, policy_id in sorted(ids.items(), key=lambda item: -len(item[1])):
        text = text.replace(policy_id, path)
    return text


def _client_message(url: str, exc: Exception, ids: dict[str, str]) -> str:
    """opa-python-client raises ``XxxError(code, message)`` (and ``errors`` for a rejected
    policy) from OPA's error body; anything else is a local failure."""
    code = getattr(exc, "expression", None)
    message = getattr(exc, "message", None)
    if code == "unauthorized":
        return f"OPA at {url} {_UNAUTHORIZED}"
    for error in getattr(exc, "errors", None) or ():
        if isinstance(error, dict):
            location = error.get("location") or {}
            file = location.get("file") or "?"
            text = f"{file}:{location.get('row', '?')}: {error.get('message', message)}"
            return _unmapped(text, ids)
    if isinstance(code, str) and message:
        return f"OPA at {url} rejected the request ({code}): {_unmapped(str(message), ids)}"
    return f"OPA at {url} failed: {message or exc}"


def _http_message(url: str, response: Any, ids: dict[str, str]) -> str:
    status = getattr(response, "status_code", "?")
    if status in (401, 403):
        return f"OPA at {url} {_UNAUTHORIZED} ({status})"
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    detail = str(body.get("message") or (errors[0].get("message") if errors else "") or "")
    if errors and (errors[0].get("location") or {}).get("file"):
        location = errors[0]["location"]
        detail = (
            f"{location['file']}:{location.get('row', '?')}: {errors[0].get('message', detail)}"
        )
    return _unmapped(f"OPA at {url} answered {status}: {detail}".rstrip(": "), ids)


def _results(value: Any) -> Results:
    """Check the shape of what the query returned: every decision rule a set (or array)."""
    if not isinstance(value, dict):
        raise PolicyError("policy query returned no results object")
    results: Results = {}
    for package, rules in value.items():
        if not isinstance(rules, dict):
            raise PolicyError(f"policy query returned no decisions for package {package}")
        results[str(package)] = {}
        for rule in DECISION_RULES:
            decisions = rules.get(rule, [])
            if not isinstance(decisions, list):
                raise PolicyError(
                    f"{package}.{rule} must be a set of decisions (`{rule} contains ... if`), "
                    f"not {_rego_type(decisions)}"
                )
            results[str(package)][rule] = decisions
    return results


def _rego_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


@contextlib.contextmanager
def managed_opa(
    binary: str | os.PathLike[str] | None = None, startup_timeout: float = 20.0
) -> Iterator[str]:
    """Start ``opa run --server`` on a free loopback port; yield its URL; stop it afterwards."""
    path = binary or os.environ.get("MESHRC_OPA_BINARY") or shutil.which("opa")
    if not path or not Path(path).is_file():
        raise PolicyError(
            "--policy-engine opa needs --opa-url or an `opa` binary on PATH (or MESHRC_OPA_BINARY)"
        )
    # Its log goes to a file, not a pipe that nobody reads while it runs (a full pipe would
    # block the server); the file is read only when it fails to start.
    with tempfile.TemporaryFile() as log:
        for attempt in range(3):
            port = _free_port()
            process = _start_opa(os.fspath(path), port, log)
            try:
                _wait_until_healthy(process, port, startup_timeout, log)
            except _PortTaken:
                if attempt == 2:
                    raise PolicyError("opa found no free port on 127.0.0.1") from None
                continue
            except BaseException:
                stop_process(process)
                raise
            break
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(process)


class _PortTaken(Exception):
    """Another process took the free port between finding it and opa binding it."""


def _start_opa(path: str, port: int, log: Any) -> subprocess.Popen[bytes]:
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
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
    except OSError as exc:
        raise PolicyError(f"cannot start {path}: {exc.strerror}") from None


# Loopback needs no proxy, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_until_healthy(
    process: subprocess.Popen[bytes], port: int, timeout: float, log: Any
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace").strip()
            if "address already in use" in err:
                log.seek(0)
                log.truncate()
                raise _PortTaken
            raise PolicyError(f"opa exited with {process.returncode} at start: {err[-500:]}")
        health = f"http://127.0.0.1:{port}/health"
        with contextlib.suppress(OSError), _DIRECT.open(health, timeout=0.5) as answer:
            if answer.status == 200:
                return
        time.sleep(0.05)
    raise PolicyError(f"opa did not listen on 127.0.0.1:{port} within {timeout:g} s")
