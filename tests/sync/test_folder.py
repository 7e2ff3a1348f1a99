"""The Envoy target's folder: versions written whole, switched in one rename, the kubelet's
layout; and the targets of meshrc.yaml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.config import EnvoyTarget, KubernetesTarget, parse_config
from reconciler.errors import ConfigError
from reconciler.targets.envoy import EnvoyFolder


def test_versions_are_switched_in_one_step_and_the_previous_one_is_kept(tmp_path: Path) -> None:
    folder = EnvoyFolder(tmp_path)
    assert folder.current() is None
    first = folder.write({"lds.yaml": "a: 1\n", "cds.yaml": "b: 1\n"}, "c1", "1" * 64)
    assert folder.current() is None  # written, not in use
    folder.activate(first)
    assert folder.current() == first
    assert os.readlink(tmp_path / "lds.yaml") == "..data/lds.yaml"
    assert (tmp_path / "lds.yaml").read_text() == "a: 1\n"
    second = folder.write({"lds.yaml": "a: 2\n", "cds.yaml": "b: 2\n"}, "c2", "2" * 64)
    folder.activate(second)
    assert (tmp_path / "lds.yaml").read_text() == "a: 2\n"
    third = folder.write({"lds.yaml": "a: 3\n", "cds.yaml": "b: 3\n"}, "c3", "3" * 64)
    folder.activate(third)
    kept = sorted(p.name for p in tmp_path.glob("..v-*"))
    assert kept == sorted([second.name, third.name])  # the current one and the one before
    assert not list(tmp_path.glob("*.tmp*"))


def test_the_same_content_again_is_not_rewritten_but_names_its_new_commit(tmp_path: Path) -> None:
    folder = EnvoyFolder(tmp_path)
    first = folder.write({"lds.yaml": "a: 1\n"}, "c1", "1" * 64)
    folder.activate(first)
    again = folder.write({"lds.yaml": "a: 1\n"}, "revert", "1" * 64)
    assert again.name == first.name
    folder.activate(again)
    current = folder.current()
    assert current is not None and current.commit == "revert"


def test_targets_in_meshrc_yaml() -> None:
    config = parse_config(
        b"targets:\n"
        b"  - {name: local, type: envoy, namespace: shop, portOffset: 20000}\n"
        b"  - {name: prod-eu, type: kubernetes, context: eu, apply: [istio, envoy]}\n"
    )
    local, cluster = config.targets
    assert isinstance(local, EnvoyTarget) and local.port_offset == 20000 and local.proxy == "mesh"
    assert isinstance(cluster, KubernetesTarget) and cluster.apply == ("istio", "envoy")
    assert cluster.prune is True
    assert config.target("local") is local


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            b"targets: [{name: a, type: envoy}, {name: a, type: envoy}]",
            "target names must be unique: a",
        ),
        (b"targets: [{name: a, type: nomad}]", "targets.0: Input tag 'nomad'"),
        (b"targets: [{name: Bad_Name, type: envoy}]", "targets.0.envoy.name: String should match"),
        (
            b"targets: [{name: a, type: envoy, portOfset: 1}]",
            "portOfset: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_targets_name_the_key(text: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^meshrc\.yaml: ") as raised:
        parse_config(text)
    assert message in str(raised.value)
