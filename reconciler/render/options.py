"""How a proxy is rendered: for whom, and where its listeners bind."""

from __future__ import annotations

from dataclasses import dataclass

MESH = "mesh"


@dataclass(frozen=True)
class RenderOptions:
    """Where the listeners bind: a sidecar's on 127.0.0.1 (as istiod binds them without
    iptables), a Gateway's on 0.0.0.0; ``ephemeral_ports`` lets Envoy pick free ports (``meshrc
    verify`` asks it which). ``namespace`` is the sidecar's: it decides short names and
    ``exportTo``."""

    namespace: str = "default"
    mesh_address: str = "127.0.0.1"
    gateway_address: str = "0.0.0.0"
    ephemeral_ports: bool = False
    port_offset: int = 0
    """Added to every listener port (a local Envoy beside other programs: 9080 -> 29080)."""
    credentials_dir: str = "/etc/istio/credentials"
    """Where a Gateway's ``credentialName`` Secrets are mounted (``<name>/tls.crt`` ...)."""

    def listen_port(self, port: int) -> int:
        return 0 if self.ephemeral_ports else port + self.port_offset
