"""Gateway spec (networking.istio.io v1/v1beta1/v1alpha3 share one schema).

Class names follow istio/api ``networking/v1alpha3/gateway.proto``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.model.base import IstioModel
from reconciler.model.common import UInt32

__all__ = ["GatewaySpec", "Port", "Server", "ServerTLSSettings", "TLSCertificate"]

TLSProtocolVersion = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]


class Port(IstioModel):
    """The port a server listens on; ``protocol`` decides which VirtualService rules apply."""

    number: UInt32
    protocol: str
    name: str
    target_port: UInt32 | None = None


class TLSCertificate(IstioModel):
    """One of at most two inline certificates (e.g. RSA and ECDSA) of a server."""

    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None


class ServerTLSSettings(IstioModel):
    """TLS terminated (or passed through) by the gateway.

    The CRD's CEL rules allow only one of ``credentialName``, ``credentialNames`` and
    ``tlsCertificates``; that rule is left to the checks, which report it with context.
    """

    https_redirect: bool | None = None
    mode: (
        Literal[
            "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
        ]
        | None
    ) = None
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    ca_crl: str | None = None
    credential_name: str | None = None
    credential_names: list[str] | None = Field(default=None, min_length=1, max_length=2)
    ca_cert_credential_name: str | None = None
    tls_certificates: list[TLSCertificate] | None = Field(default=None, min_length=1, max_length=2)
    subject_alt_names: list[str] | None = None
    verify_certificate_spki: list[str] | None = None
    verify_certificate_hash: list[str] | None = None
    min_protocol_version: TLSProtocolVersion | None = None
    max_protocol_version: TLSProtocolVersion | None = None
    cipher_suites: list[str] | None = None
    insecure_skip_verify: bool | None = None


class Server(IstioModel):
    """One listener of the gateway: a port, the hosts it exposes, and TLS."""

    port: Port
    bind: str | None = None
    hosts: list[str]
    tls: ServerTLSSettings | None = None
    default_endpoint: str | None = None
    name: str | None = None


class GatewaySpec(IstioModel):
    """spec of a Gateway: which gateway pods (``selector``) expose which servers."""

    servers: list[Server] | None = None
    selector: dict[str, str] | None = None
