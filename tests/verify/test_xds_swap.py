"""The file-based xDS layout in a real Envoy: a new render swapped in atomically, the way the
kubelet updates a mounted ConfigMap, moves live traffic without a restart.

The mount is laid out as the kubelet lays it out: ``lds.yaml -> ..data/lds.yaml``, ``..data``
a symlink to a folder of the version, replaced by one rename; Envoy watches the mount.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from reconciler.model.snapshot import Snapshot, build_snapshot
from reconciler.processes import free_port
from reconciler.render.endpoints import EndpointTable
from reconciler.render.layouts import dumps, xds_files
from reconciler.render.options import RenderOptions
from reconciler.render.proxies import render_proxy
from reconciler.source.loading import directory_files, load_files
from reconciler.verify.client import send_many
from reconciler.verify.envoy import EnvoyProcess
from reconciler.verify.running import stand_ins
from verify.traffic_mesh import MESH

pytestmark = pytest.mark.usefixtures("envoy_binary")

WEB = "web.t.svc.cluster.local"


def snapshot(tmp_path: Path, v1: int, v2: int) -> Snapshot:
    folder = tmp_path / f"mesh-{v1}-{v2}"
    folder.mkdir()
    text = MESH.replace("weight: 75", f"weight: {v1}").replace("weight: 25", f"weight: {v2}")
    (folder / "mesh.yaml").write_text(text, encoding="utf-8")
    found, findings = build_snapshot(load_files(directory_files(folder)).documents)
    assert not findings
    return found


def write_version(
    mount: Path, name: str, mesh: Snapshot, endpoints: EndpointTable, port: int
) -> dict[str, Any]:
    """Render into the version folder ``mount/name``; the files."""
    rendered = render_proxy(mesh, "mesh", endpoints, RenderOptions(namespace="t"))
    for listener in rendered.listeners:
        listener["address"]["socket_address"]["port_value"] = port  # one port across versions
    files = xds_files(rendered, str(mount))
    (mount / name).mkdir()
    for file, document in files.items():
        (mount / name / file).write_text(dumps(document, "json"), encoding="utf-8")
        if not (mount / file).is_symlink():
            os.symlink(f"..data/{file}", mount / file)
    return files["bootstrap.yaml"]


def swap(mount: Path, name: str) -> None:
    """Point ``..data`` at the version ``name`` in one rename."""
    temporary = mount / "..data_tmp"
    os.symlink(name, temporary)
    os.replace(temporary, mount / "..data")


def test_a_swapped_render_moves_live_traffic_without_a_restart(tmp_path: Path) -> None:
    before, after = snapshot(tmp_path, 100, 0), snapshot(tmp_path, 50, 50)
    root = tmp_path / "xds"  # the mount
    root.mkdir()
    port = free_port()
    with stand_ins(before, "t") as (_upstreams, endpoints):
        boot = write_version(root, "v-1", before, endpoints, port)
        write_version(root, "v-2", after, endpoints, port)
        swap(root, "v-1")
        with EnvoyProcess(boot) as envoy:
            first = Counter(r.upstream for r in send_many(port, 200, 4, authority="web"))
            updates = envoy.counter("listener_manager.lds.update_success")
            pid = envoy.pid
            swap(root, "v-2")
            envoy.wait_for_counter("listener_manager.lds.update_success", updates + 1)
            second = Counter(r.upstream for r in send_many(port, 600, 4, authority="web"))
            assert envoy.pid == pid
    assert first == {f"{WEB}/v1": 200}
    assert set(second) == {f"{WEB}/v1", f"{WEB}/v2"}
    assert 40 <= 100 * second[f"{WEB}/v2"] / 600 <= 60  # 50% ± 10 points
