"""The Service and workload checks (IST0118, IST0150, IST0116, IST0137, IST0144, IST0175): what
istioctl analyze reports, and what it deliberately leaves alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import workload_fixtures as wl
from .mesh import check_tree, codes, only


def findings_of(tmp_path: Path, text: str) -> list[str]:
    return codes(check_tree(tmp_path, {"case.yaml": text}))


def port(item: str) -> str:
    """A Service ``pay`` (selecting nothing in the files) with one port ``item``."""
    return wl.service("pay", item, selector="nothing")


@pytest.mark.parametrize(
    "item",
    [
        "    - name: http-api\n      port: 80\n",
        "    - name: HTTP2\n      port: 80\n",
        "    - name: grpc-web\n      port: 80\n",
        "    - name: GRPC-Web-ui\n      port: 80\n",
        "    - name: http_proxy\n      port: 3128\n",
        "    - name: tls\n      port: 443\n",
        "    - name: mongo-main\n      port: 27018\n",
        "    - name: redis\n      port: 6379\n",
        "    - name: web\n      port: 80\n      appProtocol: http\n",
        "    - name: web\n      port: 80\n      appProtocol: kubernetes.io/h2c\n",
        "    - name: web\n      port: 80\n      appProtocol: kubernetes.io/wss\n",
        "    - port: 3306\n",
        "    - port: 53\n      name: dns\n",
        "    - name: statsd\n      port: 8125\n      protocol: UDP\n",
    ],
)
def test_ports_whose_protocol_istio_reads(tmp_path: Path, item: str) -> None:
    assert findings_of(tmp_path, port(item)) == []


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("    - name: web\n      port: 80\n", "spec.ports[0].name"),
        ("    - port: 8080\n", "spec.ports[0]"),
        ("    - name: httpapi\n      port: 80\n", "spec.ports[0].name"),
        # appProtocol wins over the name, as in Istio: a name of the convention does not help
        (
            "    - name: tcp\n      port: 5432\n      appProtocol: postgresql\n",
            "spec.ports[0].appProtocol",
        ),
        (
            "    - name: web\n      port: 80\n      appProtocol: kubernetes.io/other\n",
            "spec.ports[0].appProtocol",
        ),
    ],
)
def test_ports_istio_must_sniff(tmp_path: Path, item: str, field: str) -> None:
    finding = only(check_tree(tmp_path, {"case.yaml": port(item)}), "port-name-convention")
    assert (finding.severity, finding.istio_code, finding.field) == ("info", "IST0118", field)


def test_each_unnamed_port_is_reported(tmp_path: Path) -> None:
    two = port("    - port: 8080\n    - port: 8081\n")
    assert findings_of(tmp_path, two) == ["port-name-convention"] * 2


@pytest.mark.parametrize(
    "metadata",
    [
        "  namespace: kube-system\n",
        "  namespace: local-path-storage\n",
        "  namespace: istio-system\n  labels:\n    istio: pilot\n",
        "  namespace: istio-system\n  labels:\n    release: istio\n",
        "  namespace: pay\n  labels:\n    gateway.istio.io/managed: istio.io-mesh-controller\n",
        "  namespace: pay\n  labels:\n    gateway.istio.io/managed: istio.io-gateway-controller\n",
    ],
)
def test_system_and_generated_services_are_not_judged(tmp_path: Path, metadata: str) -> None:
    text = port("    - name: foo\n      port: 8080\n").replace("  namespace: pay\n", metadata)
    assert findings_of(tmp_path, text) == []


def test_a_label_istio_does_not_generate_is_judged(tmp_path: Path) -> None:
    text = port("    - name: foo\n      port: 8080\n").replace(
        "  namespace: pay\n", "  namespace: pay\n  labels:\n    gateway.istio.io/managed: argo\n"
    )
    assert findings_of(tmp_path, text) == ["port-name-convention"]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("    - name: https\n      port: 443\n", []),
        ("    - name: tcp-db\n      port: 5432\n", []),
        ("    - name: tcp\n      port: 443\n", ["externalname-port-name"]),
        ("    - port: 443\n", ["externalname-port-name"]),
        ("    - name: nginx\n      port: 443\n", ["externalname-port-name"]),
    ],
)
def test_external_name_ports(tmp_path: Path, item: str, expected: list[str]) -> None:
    text = wl.EXTERNAL_DB.replace("    - name: tcp\n      port: 443\n", item)
    assert findings_of(tmp_path, text) == expected


# ------------------------------------------------------------------ IST0116 and IST0137

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: pay\n  labels:\n{}---\n"


def test_a_workload_out_of_the_mesh_is_not_judged(tmp_path: Path) -> None:
    out = wl.TWO_PROTOCOLS.replace(
        'sidecar.istio.io/inject: "true"', 'sidecar.istio.io/inject: "false"'
    )
    assert findings_of(tmp_path, out) == []
    unknown = wl.TWO_PROTOCOLS.replace('        sidecar.istio.io/inject: "true"\n', "")
    assert findings_of(tmp_path, unknown) == []  # no Namespace in the files: as istioctl


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ("    istio-injection: enabled\n", ["deployment-multiple-services"]),
        ("    istio.io/rev: canary\n", ["deployment-multiple-services"]),
        ("    istio-injection: disabled\n    istio.io/rev: canary\n", []),
        ("    team: pay\n", []),
    ],
)
def test_the_namespace_injection_label_puts_workloads_in_the_mesh(
    tmp_path: Path, labels: str, expected: list[str]
) -> None:
    text = NAMESPACE.format(labels) + wl.TWO_PROTOCOLS.replace(
        '        sidecar.istio.io/inject: "true"\n', ""
    )
    assert findings_of(tmp_path, text) == expected


def test_an_injected_proxy_container_puts_the_workload_in_the_mesh(tmp_path: Path) -> None:
    text = wl.TWO_PROTOCOLS.replace('        sidecar.istio.io/inject: "true"\n', "").replace(
        "          image: example.com/pay:1.0\n",
        "          image: example.com/pay:1.0\n"
        "        - name: istio-proxy\n"
        "          image: docker.io/istio/proxyv2:1.28.0\n",
    )
    assert findings_of(tmp_path, text) == ["deployment-multiple-services"]


def test_the_finding_names_the_port_and_each_protocol(tmp_path: Path) -> None:
    finding = only(
        check_tree(tmp_path, {"case.yaml": wl.TWO_PROTOCOLS}), "deployment-multiple-services"
    )
    assert "port 9000" in finding.message
    assert "TCP: pay; UDP: pay-metrics" in finding.message


def test_services_without_selector_or_elsewhere_do_not_associate(tmp_path: Path) -> None:
    no_selector = wl.TWO_PROTOCOLS.replace(
        "  selector:\n    app: pay\n  ports:\n    - name: udp", "  ports:\n    - name: udp"
    )
    assert no_selector != wl.TWO_PROTOCOLS
    assert findings_of(tmp_path, no_selector) == []
    elsewhere = wl.TWO_PROTOCOLS.replace(
        "  name: pay-metrics\n  namespace: pay\n", "  name: pay-metrics\n  namespace: ops\n"
    )
    assert findings_of(tmp_path, elsewhere) == []


def test_a_waypoint_is_not_judged(tmp_path: Path) -> None:
    text = wl.TWO_PROTOCOLS.replace(
        "  name: pay\n  namespace: pay\nspec:\n  selector:\n    matchLabels",
        "  name: pay\n  namespace: pay\n"
        "  labels:\n    gateway.istio.io/managed: istio.io-mesh-controller\n"
        "spec:\n  selector:\n    matchLabels",
    )
    assert text != wl.TWO_PROTOCOLS
    assert findings_of(tmp_path, text) == []


def test_other_workload_kinds_are_read_as_deployments(tmp_path: Path) -> None:
    text = wl.TWO_PORTS.replace("kind: Deployment", "kind: StatefulSet")
    finding = only(check_tree(tmp_path, {"case.yaml": text}), "deployment-conflicting-ports")
    assert (finding.kind, finding.severity, finding.istio_code) == (
        "StatefulSet",
        "warning",
        "IST0137",
    )
    assert "ports 80, 8080 to targetPort 8080" in finding.message


def test_one_service_with_two_ports_on_one_target_port_conflicts_too(tmp_path: Path) -> None:
    """As Istio: the inbound side has one listener per targetPort, for one service port."""
    text = "---\n".join(
        [
            wl.deployment("pay"),
            wl.service(
                "pay",
                "    - name: http\n      port: 80\n      targetPort: 8080\n"
                "    - name: http-alt\n      port: 8080\n",
                selector="pay",
            ),
        ]
    )
    assert findings_of(tmp_path, text) == ["deployment-conflicting-ports"]


@pytest.mark.parametrize("target", ["http", "0"])
def test_target_ports_as_written(tmp_path: Path, target: str) -> None:
    """A named targetPort is not resolved (as istioctl); targetPort 0 is the port itself."""
    text = "---\n".join(
        [
            wl.deployment("pay"),
            wl.service("pay", "    - name: http\n      port: 80\n", selector="pay"),
            wl.service(
                "pay-internal",
                f"    - name: http\n      port: 8080\n      targetPort: {target}\n",
                selector="pay",
            ),
        ]
    )
    assert findings_of(tmp_path, text) == []


# ------------------------------------------------------------------ IST0144


def test_pod_level_uid_of_a_pod(tmp_path: Path) -> None:
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: job\n  namespace: pay\n"
        "  labels: {app: job}\n"
        "spec:\n  securityContext:\n    runAsUser: 1337\n  containers:\n    - name: job\n"
        "      image: example.com/job:1\n"
    )
    finding = only(check_tree(tmp_path, {"case.yaml": pod}), "invalid-application-uid")
    assert (finding.kind, finding.field, finding.line) == (
        "Pod",
        "spec.securityContext.runAsUser",
        9,
    )


def test_each_place_is_reported(tmp_path: Path) -> None:
    text = wl.UID_1337.replace(
        "    spec:\n      containers:",
        "    spec:\n      securityContext:\n        runAsUser: 1337\n      containers:",
    )
    fields = sorted(f.field or "" for f in check_tree(tmp_path, {"case.yaml": text}).findings)
    assert fields == [
        "spec.template.spec.containers[0].securityContext.runAsUser",
        "spec.template.spec.securityContext.runAsUser",
    ]


@pytest.mark.parametrize(
    "change",
    [
        ("name: pay\n          image", "name: istio-proxy\n          image"),
        ("  namespace: pay\nspec", "  namespace: pay\n  labels:\n    istio: ingressgateway\nspec"),
        ("  namespace: pay\nspec", "  namespace: kube-system\nspec"),
        ("runAsUser: 1337", 'runAsUser: "1337"'),
        ("runAsUser: 1337", "runAsUser: true"),
    ],
)
def test_uid_left_alone(tmp_path: Path, change: tuple[str, str]) -> None:
    text = wl.UID_1337.replace(*change)
    assert text != wl.UID_1337
    assert findings_of(tmp_path, text) == []


def test_a_pod_spec_of_the_wrong_shape_never_invalidates_its_workload(tmp_path: Path) -> None:
    text = wl.UID_1337.replace("      containers:\n", "      containers: 3\n      volumes:\n")
    assert findings_of(tmp_path, text) == []


# ------------------------------------------------------------------ IST0175


def test_jwks_finding_names_the_request_authentications(tmp_path: Path) -> None:
    many = "---\n".join(wl.REQUEST_AUTHN.replace("name: jwt", f"name: jwt-{n}") for n in range(7))
    finding = only(
        check_tree(tmp_path, {"case.yaml": many + "---\n" + wl.ISTIOD}), "jwks-fetch-unrestricted"
    )
    assert (
        "7 RequestAuthentication(s) exist (pay/jwt-0, pay/jwt-1, pay/jwt-2, pay/jwt-3, "
        "pay/jwt-4, and 2 more)" in finding.message
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (wl.ISTIOD, []),  # no RequestAuthentication
        (wl.REQUEST_AUTHN, []),  # no istiod Deployment in the files
        (wl.JWKS.replace("app: istiod\nspec", "app: pilot\nspec"), []),
        (wl.JWKS_FIXED.replace('"10.0.0.0/8,169.254.0.0/16"', '""'), ["jwks-fetch-unrestricted"]),
        (
            wl.JWKS_FIXED.replace(
                '              value: "10.0.0.0/8,169.254.0.0/16"\n',
                "              valueFrom:\n"
                "                configMapKeyRef: {name: istiod, key: cidrs}\n",
            ),
            ["jwks-fetch-unrestricted"],
        ),
    ],
)
def test_jwks_fetch(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert findings_of(tmp_path, text) == expected
