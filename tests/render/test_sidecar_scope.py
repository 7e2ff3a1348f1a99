"""A Sidecar's egress narrows the sidecar view as istiod's SidecarScope does: only imported
hosts get virtual hosts, only imported VirtualServices route, and clusters are the imported
services' and their routes' destinations. Every render here is loaded by a real Envoy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.render.endpoints import from_snapshot
from reconciler.render.layouts import bootstrap, dumps
from reconciler.render.options import RenderOptions
from reconciler.render.proxies import RenderedProxy, Sidecar, render_proxy
from reconciler.verify.envoy import validate
from render.meshes import SHOP, snapshot_of, write_mesh

pytestmark = pytest.mark.usefixtures("envoy_binary")

REVIEWS = "reviews.shop.svc.cluster.local"
RATINGS = "ratings.shop.svc.cluster.local"


def sidecar(namespace: str, egress: str, name: str = "default", extra: str = "") -> str:
    """A Sidecar document; ``egress`` is the YAML flow list of its egress listeners."""
    return (
        "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec:\n{extra}  egress: {egress}\n"
    )


def render(tmp_path: Path, text: str, namespace: str = "shop") -> RenderedProxy:
    """The sidecar view of ``namespace``, after a real Envoy has loaded it."""
    snapshot = snapshot_of(write_mesh(tmp_path / "mesh", text))
    options = RenderOptions(namespace=namespace)
    rendered = render_proxy(snapshot, "mesh", from_snapshot(snapshot), options)
    validate(bootstrap(rendered))
    return rendered


def virtual_hosts(rendered: RenderedProxy) -> dict[str, list[str]]:
    """Listener name -> the names of its virtual hosts."""
    found = {}
    for listener in rendered.listeners:
        config = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
        found[listener["name"]] = [h["name"] for h in config["virtual_hosts"]]
    return found


def cluster_hosts(rendered: RenderedProxy) -> set[str]:
    return {str(c["name"]).split("|")[3] for c in rendered.clusters}


def routes_of(rendered: RenderedProxy, listener: str, name: str) -> list[dict[str, Any]]:
    found = next(x for x in rendered.listeners if x["name"] == listener)
    config = found["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    routes: list[dict[str, Any]] = next(h for h in config["virtual_hosts"] if h["name"] == name)[
        "routes"
    ]
    return routes


def test_without_a_sidecar_every_visible_host_is_imported(tmp_path: Path) -> None:
    everything = render(tmp_path, SHOP)
    assert virtual_hosts(everything)["0.0.0.0_9080"] == [
        f"{RATINGS}:9080",
        f"{REVIEWS}:9080",
        "block_all",
    ]
    assert {"payments.example.com", "search.example.com"} <= cluster_hosts(everything)


def test_narrowing_egress_removes_other_hosts_virtual_hosts_and_clusters(tmp_path: Path) -> None:
    narrowed = render(tmp_path, SHOP + sidecar("shop", f"[{{hosts: [./{REVIEWS}]}}]"))
    # only reviews keeps a virtual host; the ServiceEntries' ports (80, 8443) have no listener
    assert virtual_hosts(narrowed) == {"0.0.0.0_9080": [f"{REVIEWS}:9080", "block_all"]}
    # ratings keeps its clusters only because the reviews routes mirror to it (istiod adds the
    # destinations of imported VirtualServices to the clusters, not to the virtual hosts)
    assert cluster_hosts(narrowed) == {REVIEWS, RATINGS}
    # what is not imported is not rendered, so not noted either (legacy.internal is TCP)
    assert narrowed.notes == []


def test_a_listener_port_imports_that_port_alone(tmp_path: Path) -> None:
    egress = "[{port: {number: 9090, protocol: GRPC, name: grpc}, hosts: ['./*']}]"
    on_9090 = render(tmp_path, SHOP + sidecar("shop", egress))
    assert virtual_hosts(on_9090) == {"0.0.0.0_9090": [f"{RATINGS}:9090", "block_all"]}


def test_an_exclusion_takes_a_host_out(tmp_path: Path) -> None:
    egress = "[{hosts: ['*/*', '~shop/search.example.com', '~*/payments.example.com']}]"
    rendered = render(tmp_path, SHOP + sidecar("shop", egress))
    assert "0.0.0.0_80" not in virtual_hosts(rendered)
    assert "0.0.0.0_8443" not in virtual_hosts(rendered)
    assert cluster_hosts(rendered) & {"search.example.com", "payments.example.com"} == set()


TEAM_ROUTE = f"""\
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ratings-by-team, namespace: team}}
spec:
  hosts: [{RATINGS}]
  http:
    - name: team
      match: [{{headers: {{x-team: {{exact: blue}}}}}}]
      route: [{{destination: {{host: {RATINGS}, port: {{number: 9080}}}}}}]
"""


def test_virtual_services_of_namespaces_not_imported_do_not_route(tmp_path: Path) -> None:
    """The host is imported through shop, but the VirtualService lives in team: istiod
    selects VirtualServices by their own namespace, so ratings keeps its default route."""
    with_team = render(tmp_path / "all", SHOP + TEAM_ROUTE)
    first = routes_of(with_team, "0.0.0.0_9080", f"{RATINGS}:9080")[0]
    assert first["match"]["headers"][0]["name"] == "x-team"
    only_shop = render(tmp_path / "shop", SHOP + TEAM_ROUTE + sidecar("shop", "[{hosts: [./*]}]"))
    routes = routes_of(only_shop, "0.0.0.0_9080", f"{RATINGS}:9080")
    assert [r["name"] for r in routes] == ["default"]


def test_the_root_namespace_default_applies_where_a_namespace_has_none(tmp_path: Path) -> None:
    root_default = sidecar("istio-system", "[{hosts: ['*/search.example.com']}]")
    mesh_wide = render(tmp_path / "root", SHOP + root_default)
    assert virtual_hosts(mesh_wide) == {"0.0.0.0_80": ["search.example.com:80", "block_all"]}
    # the namespace's own Sidecar wins over the mesh-wide default
    own = render(tmp_path / "own", SHOP + root_default + sidecar("shop", "[{hosts: ['*/*']}]"))
    assert virtual_hosts(own) == virtual_hosts(render(tmp_path / "none", SHOP))


def test_the_root_default_reads_dot_as_the_proxys_namespace(tmp_path: Path) -> None:
    rendered = render(tmp_path, SHOP + sidecar("istio-system", "[{hosts: [./*]}]"))
    assert virtual_hosts(rendered) == virtual_hosts(render(tmp_path / "none", SHOP))


def test_a_sidecar_with_a_workload_selector_is_not_applied_and_said_so(tmp_path: Path) -> None:
    selected = sidecar(
        "shop",
        "[{hosts: [./nothing.example.com]}]",
        name="reviews-only",
        extra="  workloadSelector: {labels: {app: reviews}}\n",
    )
    rendered = render(tmp_path, SHOP + selected)
    assert virtual_hosts(rendered) == virtual_hosts(render(tmp_path / "none", SHOP))
    assert any("Sidecar shop/reviews-only selects workloads" in note for note in rendered.notes)


def test_a_changed_virtual_service_reselects_the_clusters(tmp_path: Path) -> None:
    """With a narrowing Sidecar the clusters follow the imported routes' destinations: the
    incremental render still equals a full render, byte for byte."""
    text = SHOP + sidecar("shop", f"[{{hosts: [./{REVIEWS}]}}]")
    before = snapshot_of(write_mesh(tmp_path / "before", text))
    unmirrored = text.replace("      mirror: {host: ratings, port: {number: 9080}}\n", "")
    unmirrored = unmirrored.replace("      mirrorPercentage: {value: 25}\n", "")
    after = snapshot_of(write_mesh(tmp_path / "after", unmirrored))
    options = RenderOptions(namespace="shop")
    incremental = Sidecar(before, from_snapshot(before), options)
    (reviews,) = [vs for vs in after.virtual_services if vs.name == "reviews"]
    changed = incremental.replace([], [reviews])
    full = render_proxy(after, "mesh", from_snapshot(after), options)
    assert cluster_hosts(changed) == {REVIEWS}
    assert dumps(bootstrap(changed), "json") == dumps(bootstrap(full), "json")
    validate(bootstrap(changed))
