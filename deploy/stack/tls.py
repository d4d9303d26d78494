"""The local stack's certificate authority and the broker's certificate (``cryptography``).

Kafka reads both as PEM (``ssl.keystore.type=PEM``): ``broker.pem`` holds the broker's
private key and certificate chain, ``ca.pem`` the CA clients trust. The broker's
certificate also authenticates the broker to itself on the internal and controller
listeners (mutual TLS), as the principal ``User:CN=intelbus-broker``. Made once per
``INTELBUS_HOME``; the keys are owner-only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from intelbus.secrets import write_private

__all__ = ["BROKER_PRINCIPAL", "DOCKER_HOST", "TlsFiles", "ensure_tls"]

BROKER_CN = "intelbus-broker"
DOCKER_HOST = "kafka"  # the broker's service name in docker-compose.yml
BROKER_PRINCIPAL = f"User:CN={BROKER_CN}"
_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class TlsFiles:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def broker(self) -> Path:
        """The broker's key and certificate chain, in one PEM file (Kafka's PEM keystore)."""
        return self.directory / "broker.pem"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # Unencrypted PKCS#8, as Kafka's PEM keystore reads it without a key password; the file
    # is owner-only like every other secret under INTELBUS_HOME.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName(DOCKER_HOST),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            False,
        ).add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def ensure_tls(directory: Path) -> TlsFiles:
    """The CA and the broker's certificate under ``directory``, made the first time."""
    files = TlsFiles(directory)
    if files.ca.exists() and files.broker.exists():
        return files
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("intelbus local CA", ca_key, None, ca_key, ca=True)
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_cert = _certificate(BROKER_CN, broker_key, ca_cert.subject, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    write_private(files.ca_key, _key_pem(ca_key))
    write_private(
        files.broker,
        _key_pem(broker_key) + broker_cert.public_bytes(pem) + ca_cert.public_bytes(pem),
    )
    write_private(files.ca, ca_cert.public_bytes(pem), 0o644)  # public: every client needs it
    return files
