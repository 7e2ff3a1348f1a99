"""ServiceEntries defining one host and port with different protocols (IST0177).

Scenarios follow istioctl's testdata (serviceentry-conflicting-protocol, -exportto,
-no-conflict-protocol; Apache-2.0, re-expressed on meshrc's BASE mesh).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.checks.serviceentries import check_serviceentry_protocols
from reconciler.model.mesh import MeshSettings
from reconciler.model.snapshot import build_snapshot
from reconciler.source.loading import directory_files, load_files

from .gateway_fixtures import service_entry
from .mesh import check_tree, codes, line_of

CODE = "conflicting-serviceentry-protocol"
HOST = "api.example.net"  # not the BASE mesh's api.example.org


def test_https_and_http_on_one_host_and_port_conflict(tmp_path: Path) -> None:
    text = service_entry("api-https", "HTTPS") + "---\n" + service_entry("api-http", "HTTP")
    report = check_tree(tmp_path, {"shop/api.yaml": text})
    assert codes(report) == [CODE] * 3  # with BASE's external-api (HTTPS)
    http = next(f for f in report.findings if f.name == "api-http")
    assert http.field == "spec.ports[0].protocol"
    assert http.line == line_of(text, "protocol: HTTP", 2)
    assert "ServiceEntry shop/api-https, shop/external-api" in http.message
    assert "(HTTP, HTTPS) for every namespace" in http.message


@pytest.mark.parametrize(
    "other",
    [
        service_entry("same", "HTTPS"),  # the same protocol
        service_entry("same", "https"),  # in another case
        service_entry("other-port", "TLS").replace("number: 443", "number: 8443"),
        service_entry("other-host", "TLS", host="api.example.net"),
        service_entry("hidden", "TLS", export_to="~"),
        # each in its own namespace, seen only there: istioctl's -conflicting-exportto
        service_entry("web-api", "TLS", namespace="web", export_to="."),
    ],
)
def test_no_conflict(tmp_path: Path, other: str) -> None:
    external = service_entry("external-api", "HTTPS", export_to=".")
    report = check_tree(tmp_path, {"shop/external.yaml": external, "other.yaml": other})
    assert CODE not in codes(report)


def test_same_host_in_two_namespaces_each_exported_to_itself(tmp_path: Path) -> None:
    files = {
        "a.yaml": service_entry("api", "HTTP", namespace="team-a", export_to=".", host=HOST),
        "b.yaml": service_entry("api", "TLS", namespace="team-b", export_to=".", host=HOST),
    }
    assert CODE not in codes(check_tree(tmp_path, files))


def test_a_namespace_that_sees_both(tmp_path: Path) -> None:
    files = {
        "a.yaml": service_entry("api", "HTTP", namespace="team-a", export_to="team-b", host=HOST),
        "b.yaml": service_entry("api", "TLS", namespace="team-b", export_to=".", host=HOST),
    }
    report = check_tree(tmp_path, files)
    assert codes(report).count(CODE) == 2
    assert all("for namespace team-b" in f.message for f in report.findings if f.code == CODE)


def test_unset_protocol_is_a_protocol_of_its_own(tmp_path: Path) -> None:
    unset = service_entry("api-tcp", "X").replace("      protocol: X\n", "")
    report = check_tree(tmp_path, {"shop/api.yaml": unset})
    finding = next(f for f in report.findings if f.name == "api-tcp" and f.code == CODE)
    assert finding.field == "spec.ports[0]"
    assert "(unset), HTTPS" in finding.message


def test_the_mesh_default_export_applies(tmp_path: Path) -> None:
    text = (
        service_entry("api", "HTTP", namespace="team-a")
        + "---\n"
        + service_entry("api", "TLS", namespace="team-b")
    )
    (tmp_path / "se.yaml").write_text(text)
    documents = load_files(directory_files(tmp_path), workers=1).documents
    local = MeshSettings(default_service_export_to=(".",))
    assert list(check_serviceentry_protocols(build_snapshot(documents, mesh=local)[0])) == []
    everywhere = build_snapshot(documents)[0]
    assert len(list(check_serviceentry_protocols(everywhere))) == 2
