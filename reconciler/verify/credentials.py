"""Stand-in TLS Secrets: a self-signed certificate for each ``credentialName`` a Gateway
uses, so that its HTTPS servers load in a real Envoy without the cluster's Secrets (which
never belong in Git)."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write_stand_in_secrets(folder: Path, names: list[str]) -> Path:
    """``<folder>/<name>/tls.crt, tls.key, ca.crt`` for each name (a mounted Secret's layout)."""
    now = datetime.datetime.now(datetime.UTC)
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"meshrc stand-in {name}")])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        (target / "tls.crt").write_bytes(pem)
        (target / "ca.crt").write_bytes(pem)
        (target / "tls.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return folder
