"""Gateway servers against their pods, Services, sibling Gateways and credential Secrets
(IST0162, IST0145, IST0138, IST0101/IST0161 for credentialName, IST0165).

Scenarios follow istioctl's testdata (pkg/config/analysis/analyzers/testdata, Apache-2.0,
re-expressed on meshrc's BASE mesh) plus the cases where meshrc must stay silent.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from reconciler.findings import Report
from reconciler.model.kubernetes import SecretValue
from reconciler.model.snapshot import build_snapshot
from reconciler.source.loading import Document

from . import gateway_fixtures as gw
from .mesh import GATEWAY, check_tree, codes, line_of, only, replace_once

GATEWAY_FILE = "istio-system/gateway.yaml"


def check(tmp_path: Path, extra: str, gateway: str = GATEWAY) -> Report:
    return check_tree(tmp_path, {GATEWAY_FILE: gateway, "istio-system/extra.yaml": extra})


def workload(name: str, labels: str, namespace: str = "istio-system") -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        f"  name: {name}\n  namespace: {namespace}\nspec:\n  template:\n"
        f"    metadata:\n      labels: {labels}\n"
    )


# --------------------------------------------------------------------------- IST0162


@pytest.mark.parametrize(
    "ports",
    [
        "    - {name: http2, port: 80}\n",
        "    - {name: http2, port: 80, targetPort: 8080}\n",  # the Service port
        "    - {name: http2, port: 8080, targetPort: 80}\n",  # the targetPort, as istioctl
        '    - {name: http2, port: 8080, targetPort: "80"}\n',
        "    - {name: http2, port: 80, protocol: TCP}\n",
        "    - {name: https, port: 443, targetPort: https}\n",  # a named targetPort: unknown
    ],
)
def test_server_port_on_the_service_is_clean(tmp_path: Path, ports: str) -> None:
    assert check_tree(tmp_path, {GATEWAY_FILE: gw.with_service(ports)}).findings == []


def test_server_port_missing_from_the_service(tmp_path: Path) -> None:
    text = gw.with_service("    - {name: https, port: 443, targetPort: 8443}\n")
    finding = only(check_tree(tmp_path, {GATEWAY_FILE: text}), "gateway-port-not-on-service")
    assert (finding.name, finding.field) == ("shop-gateway", "spec.servers[0].port.number")
    assert finding.line == line_of(text, "number: 80")
    assert "Service istio-system/istio-ingressgateway" in finding.message
    assert "TCP ports and targetPorts: 443, 8443" in finding.message


def test_a_udp_port_does_not_expose_a_server(tmp_path: Path) -> None:
    text = gw.with_service("    - {name: quic, port: 80, protocol: UDP}\n")
    assert codes(check_tree(tmp_path, {GATEWAY_FILE: text})) == ["gateway-port-not-on-service"]


def test_only_the_missing_server_port_is_reported(tmp_path: Path) -> None:
    gateway = replace_once(
        GATEWAY,
        "      hosts:\n        - shop/shop.example.com\n",
        "      hosts:\n        - shop/shop.example.com\n"
        "    - port: {number: 8443, name: https, protocol: HTTPS}\n"
        "      hosts: [shop/shop.example.com]\n"
        "      tls: {mode: SIMPLE, credentialName: shop-cert}\n",
    )
    text = gateway + "---\n" + gw.gateway_service("    - {name: http2, port: 80}\n")
    report = check_tree(tmp_path, {GATEWAY_FILE: text})
    assert only(report, "gateway-port-not-on-service").field == "spec.servers[1].port.number"


@pytest.mark.parametrize(
    "service",
    [
        "",  # no Service at all: hostNetwork, or kept outside the files
        gw.gateway_service("    - {name: https, port: 443}\n", namespace="shop"),  # elsewhere
        gw.gateway_service("    - {name: https, port: 443}\n").replace(
            "  selector:\n    istio: ingressgateway\n", "  selector:\n    istio: other\n"
        ),
        gw.gateway_service("    - {name: https, port: 443}\n").replace(
            "  selector:\n    istio: ingressgateway\n", ""
        ),  # no selector: manual endpoints prove nothing
    ],
)
def test_no_service_of_the_pods_says_nothing(tmp_path: Path, service: str) -> None:
    files = {"extra.yaml": service} if service else {}
    report = check_tree(tmp_path, {GATEWAY_FILE: GATEWAY, **files})
    assert "gateway-port-not-on-service" not in codes(report)


def test_a_gateway_without_selector_is_not_judged(tmp_path: Path) -> None:
    gateway = replace_once(GATEWAY, "  selector:\n    istio: ingressgateway\n", "")
    text = gateway + "---\n" + gw.gateway_service("    - {name: https, port: 443}\n")
    assert "gateway-port-not-on-service" not in codes(check_tree(tmp_path, {GATEWAY_FILE: text}))


# --------------------------------------------------------------------------- IST0145


def test_same_selector_port_and_disjoint_hosts_is_fine(tmp_path: Path) -> None:
    other = gw.https_gateway("admin", "admin-cert", host="shop/admin.example.com", port=80)
    assert check(tmp_path, other).findings == []


def test_same_selector_and_host_on_another_port_is_fine(tmp_path: Path) -> None:
    assert check(tmp_path, gw.https_gateway("shop-tls", "shop-cert")).findings == []


@pytest.mark.parametrize(
    "host", ["shop/shop.example.com", "shop.example.com", "*/shop.example.com"]
)
def test_same_host_twice_on_a_port_conflicts(tmp_path: Path, host: str) -> None:
    """``shop.example.com`` is ``*/shop.example.com`` to istiod (istioctl compares as
    written): both collide with each other; ``shop/...`` only with ``shop/...``."""
    gateway = replace_once(GATEWAY, "- shop/shop.example.com", f'- "{host}"')
    other = gw.https_gateway("copy", "shop-cert", host=host, port=80)
    report = check(tmp_path, other, gateway)
    assert codes(report) == ["conflicting-gateways"] * 2
    copy = next(f for f in report.findings if f.name == "copy")
    assert copy.field == "spec.servers[0].hosts[0]"
    assert "Gateway istio-system/shop-gateway also declares" in copy.message


def test_a_namespaced_host_and_any_namespace_do_not_collide(tmp_path: Path) -> None:
    other = gw.https_gateway("copy", "shop-cert", host="*/shop.example.com", port=80)
    assert check(tmp_path, other).findings == []


def test_different_bind_does_not_conflict(tmp_path: Path) -> None:
    other = gw.https_gateway("copy", "shop-cert", port=80).replace(
        "    - port:\n", "    - bind: 10.0.0.1\n      port:\n"
    )
    assert check(tmp_path, other).findings == []


def test_selectors_sharing_a_pod_conflict(tmp_path: Path) -> None:
    """istioctl's conflicting-gateways-subSelector: {istio, app} and {istio} pick one pod."""
    other = gw.https_gateway(
        "copy", "c", port=80, selector="{istio: ingressgateway, app: istio-ingressgateway}"
    )
    report = check(tmp_path, other)
    assert sorted(f.name or "" for f in report.findings) == ["copy", "shop-gateway"]


def test_selectors_of_different_pods_do_not_conflict(tmp_path: Path) -> None:
    other = gw.https_gateway("internal", "c", port=80, selector="{istio: internal-gateway}")
    pods = workload("internal-gateway", "{istio: internal-gateway}")
    report = check(tmp_path, other + "---\n" + pods)
    assert report.findings == []


def test_only_the_shared_port_of_several_conflicts(tmp_path: Path) -> None:
    """istioctl's conflicting-gateways-multiple-ports."""
    gateway = replace_once(
        GATEWAY,
        "      hosts:\n        - shop/shop.example.com\n",
        "      hosts:\n        - shop/shop.example.com\n"
        "    - port: {number: 90, name: tcp, protocol: TCP}\n"
        "      hosts: [foo.bar]\n",
    )
    other = gw.https_gateway("alpha", "c", host="foo.bar", port=90)
    report = check(tmp_path, other, gateway)
    fields = sorted((f.name, f.field) for f in report.findings)
    assert fields == [
        ("alpha", "spec.servers[0].hosts[0]"),
        ("shop-gateway", "spec.servers[1].hosts[0]"),
    ]


# --------------------------------------------------------------------------- IST0138


def test_a_subset_selector_reports_only_the_gateway_with_it(tmp_path: Path) -> None:
    """istioctl's gateway-duplicate-certificate test-02: the Gateway whose selector is a
    subset of the other's is reported, the other is not."""
    pods = workload("internal", "{istio: ingressgateway, type: internal}")
    first = gw.https_gateway("first", "wildcard-cert", host="01.test.com")
    second = gw.https_gateway(
        "second",
        "wildcard-cert",
        host="02.test.com",
        selector="{istio: ingressgateway, type: internal}",
    )
    report = check(tmp_path, "---\n".join([pods, first, second]))
    finding = only(report, "gateway-duplicate-certificate")
    assert (finding.name, finding.field) == ("first", "spec.servers[0].tls.credentialName")
    assert "Gateway istio-system/second" in finding.message


def test_certificate_files_are_compared_too(tmp_path: Path) -> None:
    def files(name: str, host: str) -> str:
        return gw.https_gateway(name, "x", host=host).replace(
            "credentialName: x",
            "serverCertificate: /etc/certs/a.pem\n        privateKey: /etc/certs/a.key",
        )

    report = check(tmp_path, files("a", "a.test.com") + "---\n" + files("b", "b.test.com"))
    assert codes(report) == ["gateway-duplicate-certificate"] * 2
    assert {f.field for f in report.findings} == {"spec.servers[0].tls.serverCertificate"}


def test_distinct_certificates_are_fine(tmp_path: Path) -> None:
    first = gw.https_gateway("first", "first-cert", host="01.test.com")
    second = gw.https_gateway("second", "second-cert", host="02.test.com")
    assert check(tmp_path, first + "---\n" + second).findings == []


# --------------------------------------------------------------------------- IST0101, IST0161


def credential_case(tmp_path: Path, *documents: str) -> Report:
    return check(tmp_path, "---\n".join(documents))


def test_no_secret_in_the_files_says_nothing(tmp_path: Path) -> None:
    """istioctl reports every credential it does not find; a repository that declares no
    Secret in the namespace keeps them elsewhere."""
    assert credential_case(tmp_path, gw.https_gateway("shop-tls", "shop-cert")).findings == []


def test_secret_in_the_gateways_namespace_but_not_the_pods(tmp_path: Path) -> None:
    """istioctl's customgateway-wrongnamespace: istiod reads the pods' namespace."""
    gateway = gw.https_gateway("shop-tls", "shop-cert", namespace="shop")
    report = credential_case(
        tmp_path, gateway, gw.tls_secret("shop-cert", "shop"), gw.tls_secret("other")
    )
    finding = only(report, "gateway-credential-not-found")
    assert (finding.namespace, finding.name) == ("shop", "shop-tls")
    assert "Secret istio-system/shop-cert does not exist" in finding.message
    assert "a Secret of that name is in shop, the Gateway's namespace" in finding.message


@pytest.mark.parametrize(
    "maker",
    [
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: shop\n"
        "  namespace: istio-system\nspec:\n  secretName: shop-cert\n",
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: shop-cert\n"
        "  namespace: istio-system\nspec:\n  encryptedData: {tls.crt: AgBy}\n",
        "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata:\n  name: x\n"
        "  namespace: istio-system\nspec:\n  target: {name: shop-cert}\n",
    ],
)
def test_a_secret_a_controller_makes_exists(tmp_path: Path, maker: str) -> None:
    report = credential_case(
        tmp_path, gw.https_gateway("shop-tls", "shop-cert"), gw.tls_secret("other"), maker
    )
    assert "gateway-credential-not-found" not in codes(report)


@pytest.mark.parametrize(
    "secret",
    [
        gw.tls_secret("shop-cert"),
        gw.secret("shop-cert", {"cert": gw.CERTIFICATE, "key": gw.PLACEHOLDER_KEY}),
        # stringData, which the API server merges into data (istioctl reads data alone)
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-cert\n  namespace: istio-system\n"
        "stringData:\n  tls.key: k\n  tls.crt: |\n"
        + "".join(f"    {line}\n" for line in gw.CERTIFICATE_PEM.decode().splitlines()),
        # SOPS: values encrypted, keys readable
        gw.secret("shop-cert", {"tls.crt": "ENC[AES256_GCM,data:abc=,type:str]", "tls.key": "x"})
        + "sops:\n  version: 3.8.1\n",
        # a key before the certificate: Envoy reads the first certificate block
        gw.secret(
            "shop-cert",
            {
                "tls.crt": base64.b64encode(
                    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
                    + gw.CERTIFICATE_PEM
                ).decode(),
                "tls.key": gw.PLACEHOLDER_KEY,
            },
        ),
        # a value split over lines, as base64 tools write it
        gw.secret(
            "shop-cert",
            {
                "tls.crt": ">-\n    " + gw.CERTIFICATE[:40] + "\n    " + gw.CERTIFICATE[40:],
                "tls.key": gw.PLACEHOLDER_KEY,
            },
        ),
    ],
)
def test_a_usable_credential_is_clean(tmp_path: Path, secret: str) -> None:
    report = credential_case(tmp_path, gw.https_gateway("shop-tls", "shop-cert"), secret)
    assert report.findings == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"cert": gw.NOT_A_CERTIFICATE, "key": gw.PLACEHOLDER_KEY}, "cert is not a PEM"),
        ({"tls.crt": "", "tls.key": ""}, "its keys tls.crt and tls.key are empty"),
        (
            {"tls.crt": gw.CERTIFICATE},
            "nor cert and key (type kubernetes.io/tls, keys: tls.crt)",
        ),
        (
            {
                "tls.crt": base64.b64encode(
                    b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
                ).decode(),
                "tls.key": gw.PLACEHOLDER_KEY,
            },
            "tls.crt is not a PEM",
        ),
    ],
)
def test_an_unusable_credential(tmp_path: Path, data: dict[str, str], problem: str) -> None:
    """istioctl's gateway-secrets-validation (but expiry: a result must not depend on the day)."""
    gateway = gw.https_gateway("shop-tls", "shop-cert")
    report = credential_case(tmp_path, gateway, gw.secret("shop-cert", data))
    finding = only(report, "invalid-gateway-credential")
    assert finding.field == "spec.servers[0].tls.credentialName"
    assert problem in finding.message


@pytest.mark.parametrize("mode", ["PASSTHROUGH", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL"])
def test_servers_that_do_not_terminate_read_no_credential(tmp_path: Path, mode: str) -> None:
    gateway = gw.https_gateway("shop-tls", "missing", mode=mode)
    report = credential_case(tmp_path, gateway, gw.tls_secret("other"))
    assert not {"gateway-credential-not-found", "invalid-gateway-credential"} & set(codes(report))


def test_mutual_needs_a_client_ca(tmp_path: Path) -> None:
    gateway = gw.https_gateway("shop-tls", "shop-cert", mode="MUTUAL")
    report = credential_case(tmp_path, gateway, gw.tls_secret("shop-cert"))
    finding = only(report, "invalid-gateway-credential")
    assert "MUTUAL but it has no client CA" in finding.message
    assert "and there is no Secret shop-cert-cacert" in finding.message


@pytest.mark.parametrize(
    "secrets",
    [
        [gw.tls_secret("shop-cert", ca_crt=gw.CERTIFICATE)],
        [gw.tls_secret("shop-cert"), gw.secret("shop-cert-cacert", {"cacert": gw.CERTIFICATE})],
    ],
)
def test_mutual_with_a_client_ca(tmp_path: Path, secrets: list[str]) -> None:
    gateway = gw.https_gateway("shop-tls", "shop-cert", mode="OPTIONAL_MUTUAL")
    assert credential_case(tmp_path, gateway, *secrets).findings == []


def test_a_cacert_secret_without_a_ca_is_invalid(tmp_path: Path) -> None:
    """istiod reads ``<name>-cacert`` when it exists, and then only it."""
    gateway = gw.https_gateway("shop-tls", "shop-cert", mode="MUTUAL")
    secrets = [gw.tls_secret("shop-cert", ca_crt=gw.CERTIFICATE), gw.tls_secret("shop-cert-cacert")]
    finding = only(credential_case(tmp_path, gateway, *secrets), "invalid-gateway-credential")
    assert "Secret istio-system/shop-cert-cacert cannot serve" in finding.message


def test_credential_names_are_each_looked_for(tmp_path: Path) -> None:
    gateway = gw.https_gateway("shop-tls", "x").replace(
        "credentialName: x", "credentialNames: [rsa-cert, ecdsa-cert]"
    )
    report = credential_case(tmp_path, gateway, gw.tls_secret("rsa-cert"))
    finding = only(report, "gateway-credential-not-found")
    assert finding.field == "spec.servers[0].tls.credentialNames[1]"


def test_secret_values_never_reach_a_finding(tmp_path: Path) -> None:
    """Whatever a Secret holds, no finding quotes it: not a wrong type, not a bad value."""
    marker = "TOPSECRETVALUE"
    weird = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-cert\n  namespace: istio-system\n"
        f"data:\n  tls.crt: {marker}\n  tls.key: 12345678\n  other: [{marker}]\n"
        f"stringData: {marker}\n"
    )
    second = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  namespace: istio-system\n"
        f"data: {marker}\n"
    )
    report = credential_case(tmp_path, gw.https_gateway("shop-tls", "shop-cert"), weird, second)
    dumped = report.model_dump_json()
    assert marker not in dumped and "12345678" not in dumped


# --------------------------------------------------------------------------- IST0165


def test_match_gateways_naming_a_generated_gateway(tmp_path: Path) -> None:
    text = gw.INTERNAL_REFERENCE.replace(
        "  http:\n    - route:",
        "  http:\n    - match:\n        - gateways:\n"
        "            - istio-system/public~istio-autogenerated-k8s-gateway~https\n"
        "      route:",
    )
    report = check_tree(tmp_path, {"shop/mobile.yaml": text})
    fields = sorted(f.field or "" for f in report.findings)
    assert fields == ["spec.gateways[0]", "spec.http[0].match[0].gateways[0]"]
    assert set(codes(report)) == {"internal-gateway-reference"}


def test_the_secret_model_keeps_no_value() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "istio-system"},
        "type": "Opaque",
        "data": {"password": base64.b64encode(b"TOPSECRETVALUE").decode(), "tls.crt": None},
        "stringData": {"token": "TOPSECRETTOKEN"},
    }
    snap, findings = build_snapshot([Document("s.yaml", 0, 1, body)])
    secret = snap.secrets[("istio-system", "s")]
    assert findings == []
    assert "TOPSECRET" not in repr(secret) and "VE9QU0VDUkVU" not in repr(secret)
    assert sorted(secret.spec.data) == ["password", "tls.crt"]
    assert secret.spec.value("token") == SecretValue(empty=False, certificate=False)
    assert secret.spec.value("tls.crt") == SecretValue(empty=True, certificate=False)
