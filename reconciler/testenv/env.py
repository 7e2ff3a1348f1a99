"""A real kube-apiserver and etcd on loopback, as controller-runtime's envtest runs them: no
nodes, no controllers, no scheduler, just the API (storage, validation against CRD schemas,
admission, RBAC). Enough to apply Istio resources to and read them back.

Everything lives in one directory: etcd's data, the credentials, the logs and the kubeconfig.
Both servers run in sessions of their own (a terminal's Ctrl-C reaches the caller, which stops
them) and die with the caller even when it is killed (with the *thread* that started them, in
fact: start and restart them from one that lives as long as they should).
"""

from __future__ import annotations

import base64
import http.client
import json
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from reconciler.processes import StopsOnExit, die_with_parent, free_port, stop_process
from reconciler.testenv.binaries import ETCD, KUBE_APISERVER, TestEnvError
from reconciler.testenv.certs import ADMIN_USER, Credentials, write_credentials

HOST = "127.0.0.1"
DEFAULT_CRDS = Path(__file__).with_name("istio-networking-crds.yaml")
CONTEXT = "meshrc-testenv"
FIELD_MANAGER = "meshrc-testenv"
STARTUP_TIMEOUT = 120.0  # kube-apiserver's first start takes a while on 2 busy cores
CRD_TIMEOUT = 60.0
POLL_INTERVAL = 0.1
PORT_ATTEMPTS = 3
_TAIL_LINES = 30
# Loopback needs no proxy, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _PortTaken(Exception):
    """Another process took a free port between finding it and the server binding it."""


class _Server:
    """One server process, its output appended to a log file that is read when it fails."""

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def start(self, command: list[str], ready: Callable[[], bool], timeout: float) -> None:
        """Launch and wait until ``ready()``; _PortTaken when the process could not bind."""
        self.log.touch()
        self._log_start = self.log.stat().st_size
        with self.log.open("ab") as log:
            try:
                self.process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    # Killed at once: a graceful shutdown without the parent takes 20 s.
                    preexec_fn=die_with_parent(signal.SIGKILL),
                )
            except OSError as exc:
                raise TestEnvError(f"cannot start {command[0]}: {exc.strerror}") from None
        try:
            self._wait(self.process, ready, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _wait(
        self, process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                tail = self._tail()
                if "address already in use" in tail:
                    raise _PortTaken
                raise TestEnvError(
                    f"{self.name} exited with code {process.returncode} at start; "
                    f"the end of {self.log}:\n{tail}"
                )
            if time.monotonic() > deadline:
                raise TestEnvError(
                    f"{self.name} was not ready within {timeout:g} s; "
                    f"the end of {self.log}:\n{self._tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def _tail(self) -> str:
        """The last lines this run wrote (earlier runs may have appended to the same log)."""
        with self.log.open("rb") as log:
            log.seek(self._log_start)
            lines = log.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-_TAIL_LINES:]) or "(empty)"


class TestEnv(StopsOnExit):
    """etcd and kube-apiserver serving on loopback, with CRDs installed (Istio's networking
    CRDs unless told otherwise) and ``directory/kubeconfig`` for an admin that may do
    everything (client certificate in group system:masters; authorization is RBAC).

    ``stop_apiserver()`` and ``start_apiserver()`` take the API server away and bring it back
    on the same address and credentials while etcd, and so the data, stays.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        directory: Path,
        crds: Sequence[Path] | None = None,
        namespaces: Sequence[str] = (),
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.directory = Path(directory).absolute()
        self.crds = [DEFAULT_CRDS] if crds is None else [Path(crd) for crd in crds]
        self.namespaces = tuple(namespaces)
        self.startup_timeout = startup_timeout
        self._etcd = _Server("etcd", self.directory / "etcd.log")
        self._apiserver = _Server("kube-apiserver", self.directory / "kube-apiserver.log")
        self._etcd_port = 0
        self._port = 0
        self._credentials: Credentials | None = None
        self._context: ssl.SSLContext | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def server(self) -> str:
        """The API server's URL."""
        return f"https://{HOST}:{self._port}"

    @property
    def etcd_url(self) -> str:
        return f"http://{HOST}:{self._etcd_port}"

    def start(self) -> TestEnv:
        """Start etcd, then the API server; install the CRDs and namespaces; write the
        kubeconfig last. TestEnvError with the end of the failing server's log."""
        if self._etcd.process is not None:
            raise TestEnvError("this test environment was started already")
        etcd, apiserver = ETCD.require(), KUBE_APISERVER.require()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.unlink(missing_ok=True)  # a previous run's: it appears when all is ready
        try:
            self._credentials = write_credentials(self.directory / "pki")
            self._context = _client_context(self._credentials)
            self._start_etcd(str(etcd))
            self._start_apiserver(str(apiserver), fresh_port=True)
            for path in self.crds:
                self._install_crds(path)
            for namespace in self.namespaces:
                self._apply(f"/api/v1/namespaces/{quote(namespace)}", _namespace(namespace))
            self._write_kubeconfig(self._credentials)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the API server, then etcd; idempotent. The directory stays (logs, data)."""
        self._apiserver.stop()
        self._etcd.stop()

    def stop_apiserver(self) -> None:
        """Stop the API server alone: clients then get connection refused."""
        self._apiserver.stop()

    def start_apiserver(self) -> None:
        """Start the API server again, on the same port, with the data etcd kept."""
        if not self._etcd.running:
            raise TestEnvError("etcd is not running: start() the test environment")
        if self._apiserver.process is not None:
            raise TestEnvError("the API server is running already")
        self._start_apiserver(str(KUBE_APISERVER.require()), fresh_port=False)

    @property
    def running(self) -> bool:
        """Both servers run (neither was stopped nor has exited)."""
        return self._etcd.running and self._apiserver.running

    @property
    def pids(self) -> list[int]:
        """The running servers' process ids."""
        return [s.process.pid for s in (self._etcd, self._apiserver) if s.process is not None]

    def __enter__(self) -> TestEnv:
        return self.start()

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        """One request as the admin: the status and the decoded JSON (text when not JSON)."""
        if self._context is None:
            raise TestEnvError("this test environment is not started")
        connection = http.client.HTTPSConnection(
            HOST, self._port, context=self._context, timeout=timeout
        )
        try:
            payload = None if body is None else json.dumps(body)
            connection.request(method, path, payload, {"Content-Type": content_type})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data.decode(errors="replace")

    def _apply(self, path: str, document: dict[str, Any]) -> Any:
        """Server-side apply ``document`` at ``path`` (created or updated): the stored object."""
        status, answer = self._request(
            "PATCH",
            f"{path}?fieldManager={FIELD_MANAGER}&force=true",
            document,
            content_type="application/apply-patch+yaml",  # JSON is YAML
        )
        if status not in (200, 201):
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise TestEnvError(f"applying {path} failed ({status}): {message}")
        return answer

    def _start_etcd(self, binary: str) -> None:
        data = self.directory / "etcd"

        def command() -> list[str]:
            self._etcd_port, peer = free_port(), f"http://{HOST}:{free_port()}"
            return [
                binary,
                "--name=meshrc-testenv",
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=meshrc-testenv={peer}",
                "--unsafe-no-fsync",  # a throwaway store: speed over durability
                "--log-level=warn",
            ]

        self._serve(self._etcd, command, self._etcd_healthy, attempts=PORT_ATTEMPTS)

    def _start_apiserver(self, binary: str, fresh_port: bool) -> None:
        credentials = self._credentials
        if credentials is None:
            raise TestEnvError("this test environment is not started")

        def command() -> list[str]:
            if fresh_port:
                self._port = free_port()
            return [
                binary,
                f"--etcd-servers={self.etcd_url}",
                f"--bind-address={HOST}",
                f"--advertise-address={HOST}",
                f"--secure-port={self._port}",
                f"--tls-cert-file={credentials.serving_cert}",
                f"--tls-private-key-file={credentials.serving_key}",
                f"--client-ca-file={credentials.ca}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                # No controller-manager creates the default ServiceAccount the plugin waits for.
                "--disable-admission-plugins=ServiceAccount",
                f"--service-account-issuer=https://{HOST}:{self._port}",
                f"--service-account-key-file={credentials.service_account_public}",
                f"--service-account-signing-key-file={credentials.service_account_key}",
            ]

        attempts = PORT_ATTEMPTS if fresh_port else 1
        self._serve(self._apiserver, command, self._apiserver_ready, attempts=attempts)

    def _serve(
        self,
        server: _Server,
        command: Callable[[], list[str]],
        ready: Callable[[], bool],
        attempts: int,
    ) -> None:
        """Start ``server`` with a new ``command()`` (new ports) while its port is taken."""
        for attempt in range(attempts):
            try:
                server.start(command(), ready, self.startup_timeout)
                return
            except _PortTaken:
                if attempt == attempts - 1:
                    raise TestEnvError(
                        f"{server.name} could not bind its port on {HOST}; see {server.log}"
                    ) from None

    def _etcd_healthy(self) -> bool:
        try:
            with _DIRECT.open(f"{self.etcd_url}/health", timeout=2) as answer:
                return bool(json.load(answer).get("health") == "true")
        except (OSError, ValueError):  # refused, not up yet; or not JSON yet
            return False

    def _apiserver_ready(self) -> bool:
        try:
            status, _ = self._request("GET", "/readyz", timeout=5)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200

    def _install_crds(self, path: Path) -> None:
        """Apply every CRD in the YAML file, then wait until each is served."""
        try:
            documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        except (OSError, yaml.YAMLError) as exc:
            raise TestEnvError(f"cannot read CRDs from {path}: {exc}") from None
        for document in documents:
            if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
                raise TestEnvError(f"{path}: every document must be a CustomResourceDefinition")
            name = document.get("metadata", {}).get("name", "")
            self._apply(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{quote(name)}", document
            )
        deadline = time.monotonic() + CRD_TIMEOUT
        for document in documents:
            while not self._crd_served(document):
                if time.monotonic() > deadline:
                    raise TestEnvError(
                        f"CRD {document['metadata']['name']} was not established "
                        f"within {CRD_TIMEOUT:g} s"
                    )
                time.sleep(POLL_INTERVAL)

    def _crd_served(self, crd: dict[str, Any]) -> bool:
        """Established, and every served version in discovery (what kubectl reads)."""
        name = crd["metadata"]["name"]
        _, stored = self._request(
            "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        )
        # A fresh CRD may have no status yet, or conditions: null.
        crd_status = (stored.get("status") if isinstance(stored, dict) else None) or {}
        conditions = crd_status.get("conditions") or []
        if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return False
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", True):
                continue
            status, discovery = self._request("GET", f"/apis/{group}/{version['name']}")
            if status != 200 or plural not in {r["name"] for r in discovery.get("resources", [])}:
                return False
        return True

    def _write_kubeconfig(self, credentials: Credentials) -> None:
        """For kubectl and the kubernetes client: credentials inline, so the file stands alone."""

        def inline(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": inline(credentials.ca),
                    },
                }
            ],
            "users": [
                {
                    "name": ADMIN_USER,
                    "user": {
                        "client-certificate-data": inline(credentials.admin_cert),
                        "client-key-data": inline(credentials.admin_key),
                    },
                }
            ],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": ADMIN_USER}}],
            "current-context": CONTEXT,
        }
        partial = self.kubeconfig.with_suffix(".partial")
        partial.touch(mode=0o600, exist_ok=True)
        partial.write_text(yaml.safe_dump(config, sort_keys=False))
        partial.replace(self.kubeconfig)  # readers never see half a file


def _client_context(credentials: Credentials) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(credentials.ca))
    context.load_cert_chain(str(credentials.admin_cert), str(credentials.admin_key))
    return context


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
