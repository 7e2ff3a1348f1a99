"""The embedded engine (regorus) and a real OPA server (``opa run --server``, the pinned build of
tests/testbins.py) on the same small bundles: the same decisions, the input sent once, nothing
left behind on the server, and every failure a :class:`PolicyError` with a clear message (and
``meshrc check`` exit 2 without a traceback).

The policies here are written for these tests in tmp dirs, never the built-in pack.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import regorus
import requests
from cli.helpers import BASE, invoke, no_traceback, write_tree

from reconciler.errors import PolicyError
from reconciler.policy import engines
from reconciler.policy.bundle import PolicyBundle, PolicyFolder, load_bundle
from reconciler.policy.engines import (
    EmbeddedEngine,
    Engine,
    OpaServerEngine,
    Results,
    managed_opa,
)
from reconciler.policy.inputs import build_input
from reconciler.source.loading import Document

ENGINES = ["embedded", "opa"]
TOKEN = "opa-token-5f1c9e0b7a-do-not-print"

ROUTES = """\
package team.routes.hosts

findings contains finding if {
	some resource in input.resources
	resource.kind == "VirtualService"
	some i, host in resource.spec.hosts
	not host in data.allowed.hosts
	finding := {
		"code": "host-not-allowed",
		"severity": data.meshrc.params.severity,
		"message": sprintf("host %s is not allowed (max %d)", [host, data.meshrc.params.max]),
		"resource": {
			"kind": resource.kind,
			"namespace": resource.metadata.namespace,
			"name": resource.metadata.name,
		},
		"field": sprintf("spec.hosts[%d]", [i]),
	}
}
"""

CONFTEST = """\
package conftest.style

deny contains "a plain deny" if true

deny contains sprintf("team %s", [data.teams.owner]) if true

warn contains {"msg": "a warning with a resource", "resource": r} if {
	some resource in input.resources
	resource.kind == "Service"
	r := {"kind": "Service", "namespace": "shop", "name": resource.metadata.name}
}

violation contains sprintf("%d resources, commit %s", [count(input.resources), input.commit.id])
"""

DATA_JSON = '{"allowed": {"hosts": ["reviews"]}}'
DATA_YAML = "owner: payments\n"  # in teams/: data.teams.owner, as opa loads it


def mesh_input(commit: dict[str, str] | None = None) -> dict[str, Any]:
    documents = [
        Document(
            "mesh/routes.yaml",
            0,
            1,
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": "reviews", "namespace": "shop"},
                "spec": {"hosts": ["reviews", "ratings", "*.evil.example"]},
            },
        ),
        *(
            Document(
                "mesh/services.yaml",
                index,
                1 + 8 * index,
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}},
            )
            for index, name in enumerate(["reviews", "ratings"])
        ),
    ]
    return build_input(documents, "shop", commit)


def folder(root: Path, files: dict[str, str], name: str = "team") -> PolicyFolder:
    write_tree(root, files)
    return PolicyFolder.from_disk(root, name)


def bundle_of(
    root: Path, files: dict[str, str], params: dict[str, Any] | None = None
) -> PolicyBundle:
    return load_bundle([folder(root, files)], params)


def normalised(results: Results) -> dict[str, dict[str, list[str]]]:
    """Sets come back as arrays in an engine's own order."""
    return {
        package: {
            rule: sorted(json.dumps(d, sort_keys=True) for d in ds) for rule, ds in rules.items()
        }
        for package, rules in results.items()
    }


@pytest.fixture(scope="module")
def opa_url(opa_binary: Path) -> Iterator[str]:
    with managed_opa(binary=opa_binary) as url:
        yield url


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "embedded":
        return EmbeddedEngine()
    return OpaServerEngine(request.getfixturevalue("opa_url"), timeout=10)


def server_state(url: str, token: str | None = None) -> tuple[list[str], Any]:
    """The ids of the policies on the server, and its data (without OPA's own ``system``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    policies = requests.get(f"{url}/v1/policies", headers=headers, timeout=5).json()["result"]
    data = requests.get(f"{url}/v1/data", headers=headers, timeout=5).json()["result"]
    return [p["id"] for p in policies], {k: v for k, v in data.items() if k != "system"}


def test_a_managed_opa_ends_with_its_parent_even_when_that_is_killed(opa_binary: Path) -> None:
    script = (
        "import sys, time\n"
        "from reconciler.policy.engines import managed_opa\n"
        "with managed_opa(binary=sys.argv[1]) as url:\n"
        "    print(url, flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(opa_binary)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    url = parent.stdout.readline().strip()
    assert requests.get(f"{url}/health", timeout=2).status_code == 200
    parent.kill()  # SIGKILL: no finally, no clean-up in the parent
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/health", timeout=0.5)
        except requests.exceptions.ConnectionError:
            return
        time.sleep(0.05)
    pytest.fail(f"opa at {url} outlived its parent")


# --------------------------------------------------------------------------- same decisions


def test_both_engines_decide_the_same(tmp_path: Path, opa_url: str) -> None:
    files = {
        "routes.rego": ROUTES,
        "conftest.rego": CONFTEST,
        "data.json": DATA_JSON,
        "teams/data.yaml": DATA_YAML,
        "routes_test.rego": "package team.routes.hosts_test\n\ntest_nothing if true\n",
    }
    bundle = bundle_of(tmp_path / "p", files, {"severity": "warning", "max": 3})
    document = mesh_input({"id": "abc123", "ref": "main"})
    embedded = EmbeddedEngine().evaluate(bundle, document)
    opa = OpaServerEngine(opa_url).evaluate(bundle, document)
    assert normalised(embedded) == normalised(opa)

    hosts = embedded["team.routes.hosts"]["findings"]
    assert sorted((f["field"], f["message"], f["severity"]) for f in hosts) == [
        ("spec.hosts[1]", "host ratings is not allowed (max 3)", "warning"),
        ("spec.hosts[2]", "host *.evil.example is not allowed (max 3)", "warning"),
    ]
    style = embedded["conftest.style"]
    assert sorted(style["deny"]) == ["a plain deny", "team payments"]
    assert sorted(w["resource"]["name"] for w in style["warn"]) == ["ratings", "reviews"]
    assert style["violation"] == ["3 resources, commit abc123"]
    # A library package without decisions answers with empty lists, not an error.
    assert set(embedded) == {"team.routes.hosts", "conftest.style"}


@pytest.mark.parametrize("package", ["solo", "a.b", "deep.er.pack.age", "with_under.score9"])
def test_packages_with_dots(tmp_path: Path, engine: Engine, package: str) -> None:
    bundle = bundle_of(
        tmp_path, {"p.rego": f'package {package}\n\ndeny contains "{package}" if true\n'}
    )
    assert engine.evaluate(bundle, mesh_input())[package]["deny"] == [package]


def test_params_and_data_files(tmp_path: Path, engine: Engine) -> None:
    files = {
        "p.rego": """package team.params

warn contains sprintf("%v", [data.meshrc.params]) if true

warn contains sprintf("json %v", [data.limits.retries]) if true

warn contains sprintf("yaml %v", [data.nested.dir.flag]) if true

warn contains sprintf("list %v", [data.registries]) if true
""",
        "data.json": '{"limits": {"retries": 3}, "registries": ["a", "b"]}',
        "nested/dir/data.yaml": "flag: true\n",
        "data.yml": "meshrc: {params: {from_file: 1, overridden: file}}\n",
    }
    bundle = bundle_of(tmp_path, files, {"overridden": "param", "list": [1, 2]})
    warn = sorted(engine.evaluate(bundle, mesh_input())["team.params"]["warn"])
    assert warn == [
        "json 3",
        'list ["a", "b"]',
        "yaml true",
        '{"from_file": 1, "list": [1, 2], "overridden": "param"}',
    ]


# --------------------------------------------------------------------------- one input per check


_REGORUS_ENGINE = regorus.Engine


class _CountingEngine:
    """regorus.Engine with its calls counted (the Rust class cannot be patched itself)."""

    calls: list[str] = []

    def __init__(self) -> None:
        self._engine = _REGORUS_ENGINE()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._engine, name)

        def counted(*args: Any) -> Any:
            _CountingEngine.calls.append(name)
            return method(*args)

        return counted


def many_packages(count: int) -> dict[str, str]:
    return {
        f"p{n}.rego": f'package team.p{n}\n\ndeny contains "p{n}" if input.resources\n'
        for n in range(count)
    }


@pytest.mark.parametrize("count", [1, 7])
def test_embedded_sets_the_input_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    _CountingEngine.calls = []
    monkeypatch.setattr(regorus, "Engine", _CountingEngine)
    results = EmbeddedEngine().evaluate(bundle_of(tmp_path, many_packages(count)), mesh_input())
    assert len(results) == count
    inputs = [c for c in _CountingEngine.calls if c.startswith("set_input")]
    evaluations = [c for c in _CountingEngine.calls if c.startswith("eval")]
    assert (inputs, len(evaluations)) == (["set_input_json"], 1)


@pytest.mark.parametrize("count", [1, 7])
def test_opa_gets_one_query_per_check(
    tmp_path: Path, opa_url: str, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    sent: list[tuple[str, str, bytes]] = []
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        sent.append((request.method or "", request.url or "", body))
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    document = mesh_input()
    marker = document["resources"][0]["spec"]["hosts"][2].encode()  # only in the input
    results = OpaServerEngine(opa_url).evaluate(bundle_of(tmp_path, many_packages(count)), document)
    assert len(results) == count
    queries = [(m, u) for m, u, _ in sent if m == "POST"]
    assert len(queries) == 1 and "/v1/data/" in queries[0][1]
    assert sum(marker in body for _, _, body in sent) == 1
    # One PUT per module (and the generated query module), one DELETE per module afterwards.
    puts = [u for m, u, _ in sent if m == "PUT" and "/v1/policies/" in u]
    deletes = [u for m, u, _ in sent if m == "DELETE" and "/v1/policies/" in u]
    assert len(puts) == count + 1 and sorted(deletes) == sorted(puts)


def test_opa_counts_one_decision_per_check(tmp_path: Path, opa_url: str) -> None:
    """The server's own count of data-API POSTs, from its Prometheus metrics."""

    def posts() -> float:
        text = requests.get(f"{opa_url}/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("http_request_duration_seconds_count")
            and 'handler="v1/data"' in line
            and 'method="post"' in line
        )

    before = posts()
    OpaServerEngine(opa_url).evaluate(bundle_of(tmp_path, many_packages(5)), mesh_input())
    assert posts() - before == 1


# --------------------------------------------------------------------------- nothing left behind


def test_opa_removes_its_policies_and_data(tmp_path: Path, opa_url: str) -> None:
    files = {"p.rego": ROUTES, "data.json": DATA_JSON}
    bundle = bundle_of(tmp_path, files, {"severity": "info", "max": 1})
    OpaServerEngine(opa_url).evaluate(bundle, mesh_input())
    assert server_state(opa_url) == ([], {})


# A module that calls a function of a module loaded after it (OPA compiles each PUT against
# what is loaded already), with METADATA annotations (OPA keeps those of a module it failed to
# delete, and refuses the same package's annotations again in the next check).
USER = """\
# METADATA
# title: Uses the library
package team.a_user

deny contains team.lib.shout(r.metadata.name) if {
	some r in input.resources
	r.kind == "Service"
}
"""

LIB = """\
# METADATA
# title: The library
package team.lib

shout(s) := upper(s)
"""


def test_modules_that_call_later_modules_load_and_unload(tmp_path: Path, opa_url: str) -> None:
    bundle = bundle_of(
        tmp_path,
        {
            "a_user.rego": USER.replace("team.lib.", "data.team.z_lib."),
            "z_lib.rego": LIB.replace("team.lib", "team.z_lib"),
        },
    )
    assert list(bundle.modules) == ["team/a_user.rego", "team/z_lib.rego"]
    expected = {"team.a_user": ["RATINGS", "REVIEWS"], "team.z_lib": []}
    for _ in range(2):  # a second check on the same server finds nothing left of the first
        results = OpaServerEngine(opa_url).evaluate(bundle, mesh_input())
        assert {p: sorted(r["deny"]) for p, r in results.items()} == expected
        assert server_state(opa_url) == ([], {})
    embedded = EmbeddedEngine().evaluate(bundle, mesh_input())
    assert {p: sorted(r["deny"]) for p, r in embedded.items()} == expected


def test_a_function_that_exists_nowhere_is_still_an_error(tmp_path: Path, opa_url: str) -> None:
    bundle = bundle_of(tmp_path, {"a_user.rego": USER.replace("team.lib.", "data.team.none.")})
    with pytest.raises(
        PolicyError, match=r"^team/a_user\.rego:5: undefined function data\.team\.none\.shout$"
    ):
        OpaServerEngine(opa_url).evaluate(bundle, mesh_input())
    assert server_state(opa_url) == ([], {})


def test_params_do_not_leak_into_the_next_check(tmp_path: Path, opa_url: str) -> None:
    files = {"p.rego": 'package leak\n\ndeny contains "params" if data.meshrc.params\n'}
    engine = OpaServerEngine(opa_url)
    with_params = engine.evaluate(bundle_of(tmp_path / "a", files, {"k": 1}), mesh_input())
    without = engine.evaluate(bundle_of(tmp_path / "b", files), mesh_input())
    assert (with_params["leak"]["deny"], without["leak"]["deny"]) == (["params"], [])


def test_opa_cleans_up_after_a_failure(tmp_path: Path, opa_url: str) -> None:
    files = {
        "a.rego": 'package fine\n\ndeny contains "x" if true\n',
        "b.rego": "package broken\n\nx := 1 if true\n\nx := 2 if true\n\ndeny contains x if x\n",
        "data.json": '{"k": [1]}',
    }
    with pytest.raises(PolicyError, match="conflicting"):
        OpaServerEngine(opa_url).evaluate(bundle_of(tmp_path, files), mesh_input())
    assert server_state(opa_url) == ([], {})


def test_checks_sharing_a_server_do_not_disturb_each_other(
    tmp_path: Path, opa_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second check runs on the same server while the first one is about to query."""
    from opa_client import OpaClient

    first = bundle_of(
        tmp_path / "first", {"p.rego": 'package one\n\ndeny contains "one" if true\n'}
    )
    second = bundle_of(
        tmp_path / "second", {"p.rego": 'package two\n\ndeny contains "two" if true\n'}
    )
    original = OpaClient.query_rule
    inner: list[Results] = []
    nested = False

    def query_rule(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal nested
        if not nested:
            nested = True
            inner.append(OpaServerEngine(opa_url).evaluate(second, mesh_input()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OpaClient, "query_rule", query_rule)
    outer = OpaServerEngine(opa_url).evaluate(first, mesh_input())
    assert {p: r["deny"] for p, r in outer.items()} == {"one": ["one"]}
    assert {p: r["deny"] for p, r in inner[0].items()} == {"two": ["two"]}
    assert server_state(opa_url)[0] == []


# --------------------------------------------------------------------------- failing closed

BROKEN = {
    # name: (module, what both engines' messages hold)
    "parse": ("package bad\n\ndeny contains x if {\n\tx := \n}\n", r"team/bad\.rego:[45]: "),
    "compile": (
        "package bad\n\ndeny contains x if {\n\tx := nosuchfn(1)\n}\n",
        r"team/bad\.rego:4: .*nosuchfn",
    ),
    "conflict": (
        'package bad\n\nx := 1 if true\n\nx := 2 if true\n\ndeny contains "x" if x\n',
        r"team/bad\.rego:\d+: .*conflict",
    ),
    "unsafe": ("package bad\n\ndeny contains y if {\n\ttrue\n}\n", r"team/bad\.rego:3: .*unsafe"),
    "deny is a string": (
        'package bad\n\ndeny := "no"\n',
        r"bad\.deny must be a set .* not a string",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_policy_fails_closed_with_file_and_line(
    tmp_path: Path, engine: Engine, case: str
) -> None:
    module, pattern = BROKEN[case]
    bundle = bundle_of(
        tmp_path, {"good.rego": "package good\n\nwarn contains 1 if false\n", "bad.rego": module}
    )
    with pytest.raises(PolicyError, match=pattern) as caught:
        engine.evaluate(bundle, mesh_input())
    assert "meshrc/" not in str(caught.value)  # OPA's policy ids are mapped back to files
    assert "meshrc-internal" not in str(caught.value)


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (
            '{"code": "c", "severity": "fatal", "message": "m"}',
            "finding 'c' has severity 'fatal'; use error, warning or info",
        ),
        ('{"severity": "error", "message": "m"}', "a finding has no code"),
    ],
)
@pytest.mark.parametrize("kind", ENGINES)
def test_a_malformed_decision_exits_2(
    tmp_path: Path, kind: str, decision: str, message: str, request: pytest.FixtureRequest
) -> None:
    module = f"package bad.decisions\n\nfindings contains {decision} if true\n"
    result = check_with(
        tmp_path, {"bad.rego": module}, "--policy-engine", kind, opa=opa_for(kind, request)
    )
    assert result.exit_code == 2
    assert f"meshrc: error: bad.decisions: {message}" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize("entry", ["42", '{"message": "not msg"}', "[1, 2]"])
@pytest.mark.parametrize("kind", ENGINES)
def test_a_deny_entry_must_be_a_string_or_msg(
    tmp_path: Path, kind: str, entry: str, request: pytest.FixtureRequest
) -> None:
    module = f"package bad.deny\n\ndeny contains {entry} if true\n"
    result = check_with(
        tmp_path, {"bad.rego": module}, "--policy-engine", kind, opa=opa_for(kind, request)
    )
    assert result.exit_code == 2
    assert "bad.deny.deny: entries must be strings or objects with msg" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize("case", list(BROKEN))
@pytest.mark.parametrize("kind", ENGINES)
def test_a_broken_policy_exits_2_in_the_cli(
    tmp_path: Path, kind: str, case: str, request: pytest.FixtureRequest
) -> None:
    result = check_with(
        tmp_path, {"bad.rego": BROKEN[case][0]}, "--policy-engine", kind, opa=opa_for(kind, request)
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("meshrc: error: ")
    assert "bad" in result.stderr and result.stdout == ""
    no_traceback(result)


def opa_for(kind: str, request: pytest.FixtureRequest) -> Path:
    """The pinned opa when the test runs the OPA engine (the embedded one needs none)."""
    return Path(request.getfixturevalue("opa_binary")) if kind == "opa" else Path("/no/opa")


def check_with(tmp_path: Path, policies: dict[str, str], *args: str, opa: Path) -> Any:
    """``meshrc check`` of the small clean mesh with ``policies`` as the only policy folder."""
    write_tree(tmp_path / "mesh", BASE)
    write_tree(tmp_path / "team", policies)
    return invoke(
        [
            "check",
            str(tmp_path / "mesh"),
            "--no-builtin-policies",
            "--policy",
            str(tmp_path / "team"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "-o",
            "json",
            *args,
        ],
        env={"MESHRC_OPA_BINARY": str(opa)},
    )


# --------------------------------------------------------------------------- servers that fail


def test_a_server_that_is_down(tmp_path: Path) -> None:
    port = engines._free_port()  # nothing listens there
    bundle = bundle_of(tmp_path, many_packages(1))
    with pytest.raises(PolicyError, match=rf"^OPA at http://127\.0\.0\.1:{port} is unreachable$"):
        OpaServerEngine(f"http://127.0.0.1:{port}", timeout=2).evaluate(bundle, mesh_input())
    result = check_with(
        tmp_path,
        many_packages(1),
        "--opa-url",
        f"http://127.0.0.1:{port}",
        opa=Path("/nonexistent"),
    )
    assert result.exit_code == 2
    assert f"meshrc: error: OPA at http://127.0.0.1:{port} is unreachable" in result.stderr
    no_traceback(result)


def test_https_to_a_plain_http_server(tmp_path: Path, opa_url: str) -> None:
    url = opa_url.replace("http://", "https://")
    with pytest.raises(PolicyError, match=r"the TLS handshake failed"):
        OpaServerEngine(url, timeout=5).evaluate(
            bundle_of(tmp_path, many_packages(1)), mesh_input()
        )


SLOW = 'package slow\n\ndeny contains "slow" if count(numbers.range(1, 50000000)) > 1\n'


def test_a_slow_server_times_out(tmp_path: Path, opa_url: str) -> None:
    bundle = bundle_of(tmp_path, {"slow.rego": SLOW})
    started = time.monotonic()
    with pytest.raises(PolicyError, match=r"did not answer within 0\.5 s \(--policy-timeout\)"):
        OpaServerEngine(opa_url, timeout=0.5).evaluate(bundle, mesh_input())
    assert time.monotonic() - started < 5
    # OPA stops evaluating when the client goes: the clean-up went through.
    assert server_state(opa_url) == ([], {})


def test_policy_timeout_in_the_cli(tmp_path: Path, opa_url: str) -> None:
    started = time.monotonic()
    result = check_with(
        tmp_path,
        {"slow.rego": SLOW},
        "--opa-url",
        opa_url,
        "--policy-timeout",
        "0.5",
        opa=Path("/x"),
    )
    assert result.exit_code == 2
    assert f"meshrc: error: OPA at {opa_url} did not answer within 0.5 s" in result.stderr
    assert time.monotonic() - started < 5
    no_traceback(result)


class _Broken(BaseHTTPRequestHandler):
    """Answers everything with a 500 that is not OPA's JSON (a proxy in front, say)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _fail(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"<html>upstream error</html>"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _fail


def test_a_server_that_answers_500(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(PolicyError, match="is not OPA's JSON"):
            OpaServerEngine(url, timeout=2).evaluate(
                bundle_of(tmp_path, many_packages(1)), mesh_input()
            )
        result = check_with(tmp_path / "cli", many_packages(1), "--opa-url", url, opa=Path("/x"))
        assert result.exit_code == 2
        assert f"meshrc: error: OPA at {url} answered with something that is not" in result.stderr
        no_traceback(result)
    finally:
        server.shutdown()
        server.server_close()


def test_an_evaluation_error_is_a_500_with_the_file(tmp_path: Path, opa_url: str) -> None:
    bundle = bundle_of(tmp_path, {"bad.rego": BROKEN["conflict"][0]})
    with pytest.raises(PolicyError) as caught:
        OpaServerEngine(opa_url).evaluate(bundle, mesh_input())
    message = str(caught.value)
    assert message.startswith(f"OPA at {opa_url} answered 500: team/bad.rego:5: ")
    assert "conflicting values" in message and "team/bad.rego:3" in message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://opa:8181", "is not an http(s) URL"),
        ("opa:8181", "is not an http(s) URL"),
        ("http://opa:99999", "has an invalid port"),
        ("http://opa:8181/v1/data", "give the server's root"),
    ],
)
def test_a_bad_url(url: str, message: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)):
        OpaServerEngine(url)


def test_a_url_without_port_means_the_schemes() -> None:
    assert OpaServerEngine("https://opa.example").url == "https://opa.example:443"
    assert OpaServerEngine("http://[::1]:8181/").url == "http://[::1]:8181"


# --------------------------------------------------------------------------- authentication


AUTHZ = f"""package system.authz

default allow := false

allow if input.path == ["health"]

allow if input.identity == "{TOKEN}"
"""


@pytest.fixture(scope="module")
def secured_opa(opa_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OPA that wants ``Authorization: Bearer TOKEN`` for everything but /health."""
    root = tmp_path_factory.mktemp("authz")
    (root / "authz.rego").write_text(AUTHZ)
    port = engines._free_port()
    process = subprocess.Popen(
        [
            str(opa_binary),
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{port}",
            "--disable-telemetry",
            "--authentication=token",
            "--authorization=basic",
            str(root / "authz.rego"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(root / "log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=0.5):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"secured opa did not start: {(root / 'log').read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_wrong_token_is_refused_with_a_message_about_the_token(
    tmp_path: Path, secured_opa: str, token: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PolicyError) as caught:
        OpaServerEngine(secured_opa, token).evaluate(
            bundle_of(tmp_path, many_packages(1)), mesh_input()
        )
    assert str(caught.value) == (
        f"OPA at {secured_opa} refused the request: check the token in MESHRC_OPA_TOKEN"
    )
    assert TOKEN not in caplog.text
    if token:
        assert token not in str(caught.value) and token not in caplog.text


def test_the_right_token_works(
    tmp_path: Path, secured_opa: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bundle = bundle_of(tmp_path, {**many_packages(2), "data.json": DATA_JSON}, {"a": 1})
    results = OpaServerEngine(secured_opa, TOKEN).evaluate(bundle, mesh_input())
    assert {p: r["deny"] for p, r in results.items()} == {"team.p0": ["p0"], "team.p1": ["p1"]}
    policies, data = server_state(secured_opa, TOKEN)
    assert [p for p in policies if p.startswith("meshrc/")] == [] and data == {}
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(("token", "code"), [(TOKEN, 0), ("not-the-token", 2), ("", 2)])
def test_the_cli_takes_the_token_from_the_environment(
    tmp_path: Path, secured_opa: str, token: str, code: int
) -> None:
    write_tree(tmp_path / "mesh", BASE)
    write_tree(
        tmp_path / "team",
        many_packages(1) | {"p0.rego": "package team.p0\n\nwarn contains 1 if false\n"},
    )
    result = invoke(
        [
            "check",
            str(tmp_path / "mesh"),
            "--no-builtin-policies",
            "--policy",
            str(tmp_path / "team"),
            "--opa-url",
            secured_opa,
            "-o",
            "json",
            "--no-cache",
        ],
        env={"MESHRC_OPA_TOKEN": token},
    )
    assert result.exit_code == code, result.output
    if code == 2:
        assert "check the token in MESHRC_OPA_TOKEN" in result.stderr
    no_traceback(result)
    assert TOKEN not in result.stdout + result.stderr
    assert not token or token not in result.stdout + result.stderr
