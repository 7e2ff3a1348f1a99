"""The mesh's settings (meshrc.yaml's ``mesh:``, as istioctl's --meshConfigFile) change what the
checks conclude: a PeerAuthentication in the root namespace is mesh-wide only there."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli.helpers import invoke

from reconciler.checking import CheckOptions
from reconciler.config import parse_config
from reconciler.errors import ConfigError
from reconciler.model.mesh import MeshSettings

from .mesh import BASE, check_tree, codes, write_tree
from .security_fixtures import RATINGS_DISABLE, peer

ROOT_STRICT = peer("default", "mesh-root", "  mtls:\n    mode: STRICT\n")


def test_the_root_namespace_decides_what_is_mesh_wide(tmp_path: Path) -> None:
    files = {"root.yaml": ROOT_STRICT, "dr.yaml": RATINGS_DISABLE}
    # with Istio's default root namespace (istio-system) the policy covers mesh-root only
    assert codes(check_tree(tmp_path / "default", files)) == []
    options = CheckOptions(cache_dir=None, mesh=MeshSettings(root_namespace="mesh-root"))
    report = check_tree(tmp_path / "set", files, options=options)
    assert codes(report) == ["mtls-disabled-for-strict-workload"]


def test_meshrc_yaml_carries_the_settings_to_the_check(tmp_path: Path) -> None:
    write_tree(tmp_path, {**BASE, "root.yaml": ROOT_STRICT, "dr.yaml": RATINGS_DISABLE})
    assert invoke(["check", str(tmp_path)]).exit_code == 0
    (tmp_path / "meshrc.yaml").write_text("mesh:\n  rootNamespace: mesh-root\n")
    result = invoke(["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "mtls-disabled-for-strict-workload" in result.stdout


def test_mesh_settings_read_in_meshconfigs_names() -> None:
    config = parse_config(
        b"mesh:\n  rootNamespace: istio-config\n  defaultVirtualServiceExportTo: ['.']\n"
    )
    assert config.mesh.root_namespace == "istio-config"
    assert config.mesh.default_virtual_service_export_to == (".",)
    assert parse_config(None).mesh == MeshSettings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"mesh:\n  rootNamespac: x\n", "mesh.rootNamespac"),
        (b"mesh:\n  defaultServiceExportTo: .\n", "mesh.defaultServiceExportTo"),
        (b"mesh: [a]\n", "mesh"),
    ],
)
def test_a_misspelt_mesh_setting_names_the_file_and_key(text: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=r"meshrc\.yaml") as error:
        parse_config(text)
    assert message in str(error.value)


WEB_TO_REVIEWS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews-from-web
  namespace: web
spec:
  hosts: [storefront]
  exportTo: ["."]
  http:
    - route:
        - destination:
            host: reviews.shop.svc.cluster.local
            subset: v1
"""


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, []),
        # Services (and ServiceEntries) seen only in their own namespace: web cannot see reviews
        ({"default_service_export_to": (".",)}, ["host-not-found"]),
        # DestinationRules likewise: the subsets of reviews are unknown in web
        ({"default_destination_rule_export_to": (".",)}, ["subset-not-found"]),
    ],
)
def test_default_export_to_decides_what_other_namespaces_see(
    tmp_path: Path, settings: dict[str, tuple[str, ...]], expected: list[str]
) -> None:
    options = CheckOptions(cache_dir=None, mesh=MeshSettings(**settings))
    report = check_tree(tmp_path, {"web.yaml": WEB_TO_REVIEWS}, options=options)
    assert [f.code for f in report.findings if f.name == "reviews-from-web"] == expected
