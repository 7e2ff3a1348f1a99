"""The credentials of a test API server: one throwaway CA that signs both the serving
certificate and the admin's client certificate, and the service-account signing key.

EC P-256 keys throughout: generated in microseconds where RSA takes a noticeable part of a
second, and accepted by kube-apiserver for serving, client auth and service-account tokens.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
ADMIN_USER = "meshrc-admin"
ADMIN_GROUP = "system:masters"  # bypasses authorization: the admin may do everything


@dataclass(frozen=True)
class Credentials:
    """Where :func:`write_credentials` put each file."""

    ca: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_public: Path


def write_credentials(directory: Path) -> Credentials:
    """Fresh keys and certificates in ``directory`` (private keys readable by the owner only)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("meshrc-testenv-ca")
    ca = _certificate(ca_name, ca_key, ca_name, ca_key.public_key(), ca=True)
    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving = _certificate(
        ca_name,
        ca_key,
        _name("kube-apiserver"),
        serving_key.public_key(),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        names=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
    )
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _certificate(
        ca_name,
        ca_key,
        _name(ADMIN_USER, ADMIN_GROUP),
        admin_key.public_key(),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    service_account = ec.generate_private_key(ec.SECP256R1())
    credentials = Credentials(
        ca=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "service-account.key",
        service_account_public=directory / "service-account.pub",
    )
    credentials.ca.write_bytes(_pem(ca))
    credentials.serving_cert.write_bytes(_pem(serving))
    credentials.admin_cert.write_bytes(_pem(admin))
    _write_private(credentials.serving_key, serving_key)
    _write_private(credentials.admin_key, admin_key)
    _write_private(credentials.service_account_key, service_account)
    credentials.service_account_public.write_bytes(
        service_account.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return credentials


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _certificate(
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a skewed clock
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
