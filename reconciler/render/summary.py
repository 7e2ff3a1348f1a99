"""``meshrc render --summary``: the tables ``istioctl proxy-config`` prints, from a render."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.render.proxies import RenderedProxy


def summary(rendered: RenderedProxy) -> str:
    """Listeners, routes and clusters as three aligned tables."""
    sections = [
        _table(["ADDRESS", "PORT", "ROUTE"], list(_listener_rows(rendered))),
        _table(["ROUTE", "DOMAINS", "MATCH", "ACTION"], list(_route_rows(rendered))),
        _table(["CLUSTER", "TYPE", "LB", "ENDPOINTS"], list(_cluster_rows(rendered))),
    ]
    notes = [f"note: {n}" for n in rendered.notes]
    return "\n\n".join([*sections, *(["\n".join(notes)] if notes else [])]) + "\n"


def _managers(rendered: RenderedProxy) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for listener in rendered.listeners:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                if "route_config" in network_filter["typed_config"]:
                    yield listener, network_filter["typed_config"]


def _listener_rows(rendered: RenderedProxy) -> Iterator[list[str]]:
    for listener, manager in _managers(rendered):
        socket = listener["address"]["socket_address"]
        yield [socket["address"], str(socket["port_value"]), manager["route_config"]["name"]]


def _route_rows(rendered: RenderedProxy) -> Iterator[list[str]]:
    for _listener, manager in _managers(rendered):
        config = manager["route_config"]
        for host in config["virtual_hosts"]:
            more = len(host["domains"]) - 1
            domains = host["domains"][0] + (f" +{more}" if more else "")
            for route in host["routes"] or [None]:
                if route is None:
                    yield [config["name"], domains, "-", "404"]
                else:
                    yield [config["name"], domains, _match(route["match"]), _action(route)]


def _match(match: dict[str, Any]) -> str:
    if "path" in match:
        text = str(match["path"])
    elif "safe_regex" in match:
        text = f"~{match['safe_regex']['regex']}"
    else:
        text = f"{match['prefix']}*"
    for header in match.get("headers", ()):
        matcher = header.get("string_match", {})
        value = (
            matcher.get("exact")
            or matcher.get("prefix")
            or "~" + str(matcher.get("safe_regex", {}).get("regex", ""))
        )
        op = "!=" if header.get("invert_match") else "="
        text += f" {header['name']}{op}{'*' if header.get('present_match') else value}"
    for query in match.get("query_parameters", ()):
        text += f" ?{query['name']}"
    return text


def _action(route: dict[str, Any]) -> str:
    if "redirect" in route:
        return "redirect"
    if "direct_response" in route:
        return f"status {route['direct_response']['status']}"
    action = route["route"]
    if "cluster" in action:
        return str(action["cluster"])
    return ", ".join(f"{c['name']} {c['weight']}" for c in action["weighted_clusters"]["clusters"])


def _cluster_rows(rendered: RenderedProxy) -> Iterator[list[str]]:
    for cluster in rendered.clusters:
        groups = cluster.get("load_assignment", {}).get("endpoints", [])
        endpoints = [
            f"{e['endpoint']['address']['socket_address']['address']}:"
            f"{e['endpoint']['address']['socket_address']['port_value']}"
            for group in groups
            for e in group["lb_endpoints"]
        ]
        shown = ",".join(endpoints[:3]) + (f" +{len(endpoints) - 3}" if len(endpoints) > 3 else "")
        yield [cluster["name"], cluster["type"], cluster["lb_policy"], shown or "-"]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)
