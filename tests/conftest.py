"""Fixtures shared by every test folder: the pinned binaries of ``testbins.py``, and real
Kubernetes API servers (``kube_env``, ``kube_env_b``) built from them.

A missing binary fails its tests under ``CI=true`` (``.ci/run`` must have built it) and skips
them elsewhere, with the reason printed and the command that builds it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import kubernetes
import pytest
from testbins import OPA, PinnedBinary

from reconciler.errors import VerifyError
from reconciler.testenv import ETCD, KUBE_APISERVER, TestEnv
from reconciler.testenv.binaries import HELM
from reconciler.verify.envoy import find_envoy


def require_binary(binary: PinnedBinary) -> Path:
    """The binary's path; fail under CI, skip elsewhere, when it is not there."""
    found = binary.find()
    if found is not None:
        return found
    where = os.environ.get(binary.env_var) or str(binary.cached)
    reason = (
        f"{binary.name} {binary.version} not found at {where} "
        f"(build it: python3 tests/testbins.py {binary.name})"
    )
    unavailable(reason, "CI must build it (.ci/run)")


def unavailable(reason: str, in_ci: str) -> NoReturn:
    """Fail under CI (where ``.ci/run`` provides everything), skip elsewhere, saying why."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; {in_ci}", pytrace=False)
    print(f"skipping: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def opa_binary() -> Path:
    """The pinned OPA (MESHRC_OPA_BINARY, else the cached build)."""
    return require_binary(OPA)


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """The pinned Helm (MESHRC_HELM_BINARY, else the cached build), for the chart's tests."""
    return require_binary(HELM)


@pytest.fixture(scope="session")
def envoy_binary() -> str:
    """The Envoy to run (MESHRC_ENVOY_BINARY, PATH, or beside this Python)."""
    try:
        return find_envoy()
    except VerifyError as exc:
        unavailable(str(exc), "CI must install it (.ci/run)")


@pytest.fixture(scope="session")
def kube_binaries() -> None:
    """etcd and kube-apiserver are built, for tests that start a ``TestEnv`` of their own."""
    for binary in (ETCD, KUBE_APISERVER):
        require_binary(binary)


def _kube_env(factory: pytest.TempPathFactory, name: str) -> Iterator[TestEnv]:
    with TestEnv(factory.mktemp(name)) as env:
        yield env


@pytest.fixture(scope="session")
def kube_env(tmp_path_factory: pytest.TempPathFactory, kube_binaries: None) -> Iterator[TestEnv]:
    """A real API server (etcd + kube-apiserver) with Istio's networking CRDs, for the whole
    session: tests keep apart by namespace (``kube_namespace``). ``kube_env.kubeconfig`` is
    the admin's kubeconfig. Tests that stop its API server must start it again."""
    yield from _kube_env(tmp_path_factory, "kube-env")


@pytest.fixture(scope="session")
def kube_env_b(tmp_path_factory: pytest.TempPathFactory, kube_binaries: None) -> Iterator[TestEnv]:
    """A second cluster, independent of ``kube_env`` (its own etcd), for multi-cluster tests."""
    yield from _kube_env(tmp_path_factory, "kube-env-b")


@pytest.fixture(scope="session")
def kube_api(kube_env: TestEnv) -> Iterator[Any]:
    """A ``kubernetes.client.ApiClient`` for ``kube_env``, as its admin."""
    with kubernetes.config.new_client_from_config(config_file=str(kube_env.kubeconfig)) as api:
        yield api


@pytest.fixture
def kube_namespace(kube_api: Any) -> str:
    """A fresh namespace in ``kube_env``. Not deleted afterwards: no controller runs to finish
    a deletion (it would stay Terminating with its objects), and random names keep tests apart."""
    name = f"test-{secrets.token_hex(4)}"
    kubernetes.client.CoreV1Api(kube_api).create_namespace({"metadata": {"name": name}})
    return name


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium through its chromedriver (selenium ``WebDriver``); both
    paths given, so Selenium Manager never downloads a browser or a driver."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        unavailable(f"{CHROMIUM} or {CHROMEDRIVER} missing", "CI must install them (.ci/run)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
