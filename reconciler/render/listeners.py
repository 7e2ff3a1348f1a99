"""Listeners and their HTTP connection managers, for a sidecar's outbound ports and for a
Gateway's servers."""

from __future__ import annotations

from typing import Any

from reconciler.render.routes import CORS_FILTER, FAULT_FILTER
from reconciler.render.values import typed

HCM = "envoy.filters.network.http_connection_manager"


def http_filters() -> list[dict[str, Any]]:
    """istiod's order, on upstream Envoy: fault and CORS (configured per route), then the router."""
    return [
        {
            "name": FAULT_FILTER,
            "typed_config": typed("envoy.extensions.filters.http.fault.v3.HTTPFault"),
        },
        {"name": CORS_FILTER, "typed_config": typed("envoy.extensions.filters.http.cors.v3.Cors")},
        {
            "name": "envoy.filters.http.router",
            "typed_config": typed("envoy.extensions.filters.http.router.v3.Router"),
        },
    ]


def route_configuration(name: str, virtual_hosts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "virtual_hosts": virtual_hosts,
        "validate_clusters": False,
        "ignore_port_in_host_matching": True,
    }


def http_manager(route_config: dict[str, Any], stat_prefix: str, gateway: bool) -> dict[str, Any]:
    """An HTTP connection manager with its routes inline; a Gateway's with istiod's settings."""
    manager: dict[str, Any] = {
        "stat_prefix": stat_prefix,
        "route_config": route_config,
        "http_filters": http_filters(),
    }
    if gateway:
        manager.update(
            use_remote_address=True,
            normalize_path=True,
            stream_idle_timeout="0s",
            upgrade_configs=[{"upgrade_type": "websocket"}],
        )
    return {
        "name": HCM,
        "typed_config": typed(
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            **manager,
        ),
    }


def http_listener(
    name: str,
    address: str,
    port: int,
    route_config: dict[str, Any],
    stat_prefix: str,
    gateway: bool,
) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": address, "port_value": port}},
        "filter_chains": [{"filters": [http_manager(route_config, stat_prefix, gateway)]}],
    }
