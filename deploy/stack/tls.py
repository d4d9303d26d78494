"""The local stack's certificate authority and the broker's certificate (``cryptography``).

Kafka reads both as PEM (``ssl.keystore.type=PEM``): ``broker.pem`` holds the broker's
private key and certificate chain, ``ca.pem`` the CA clients trust. The broker's
certificate also authenticates the brokers to each other on the internal and controller
listeners (mutual TLS), as the principal ``User:CN=intelbus-broker``; every node of a
cluster shares it, and it names every host a node is reached by (loopback, and the service
names of docker compose). Made once per ``INTELBUS_HOME``; the keys are owner-only.
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

from deploy.stack.cluster import MAX_BROKERS
from intelbus.secrets import write_private

__all__ = ["BROKER_PRINCIPAL", "TlsFiles", "docker_host", "ensure_tls"]

BROKER_CN = "intelbus-broker"
BROKER_PRINCIPAL = f"User:CN={BROKER_CN}"


def docker_host(node_id: int, brokers: int) -> str:
    """A node's service name in docker-compose.yml (one node) or docker-compose.cluster.yml."""
    return "kafka" if brokers == 1 else f"kafka-{node_id}"


_BROKER_NAMES = [
    "localhost",
    docker_host(1, 1),
    *(docker_host(n, MAX_BROKERS) for n in range(1, MAX_BROKERS + 1)),
]
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
                    *(x509.DNSName(name) for name in _BROKER_NAMES),
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


def _names_every_host(broker_pem: Path) -> bool:
    certificate = x509.load_pem_x509_certificate(broker_pem.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(_BROKER_NAMES) <= set(names.get_values_for_type(x509.DNSName))


def _issue_broker(
    files: TlsFiles, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> None:
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_cert = _certificate(BROKER_CN, broker_key, ca_cert.subject, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    write_private(
        files.broker,
        _key_pem(broker_key) + broker_cert.public_bytes(pem) + ca_cert.public_bytes(pem),
    )


def ensure_tls(directory: Path) -> TlsFiles:
    """The CA and the broker's certificate under ``directory``, made the first time; a broker
    certificate from before the cluster's host names is issued again by the same CA (clients
    keep trusting it)."""
    files = TlsFiles(directory)
    if files.ca.exists() and files.broker.exists():
        if not _names_every_host(files.broker):
            ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
            assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
            _issue_broker(files, ca_key, x509.load_pem_x509_certificate(files.ca.read_bytes()))
        return files
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("intelbus local CA", ca_key, None, ca_key, ca=True)
    write_private(files.ca_key, _key_pem(ca_key))
    _issue_broker(files, ca_key, ca_cert)
    write_private(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return files
