"""How to configure, start and probe each server of the local stack.

Kafka runs exactly as the release's ``kafka-server-start.sh`` would run it
(``java -cp 'libs/*' kafka.Kafka server.properties`` with G1 and a log4j2 config), after
formatting its storage once. Apicurio Registry runs ``java -jar quarkus-run.jar`` with SQL
storage in an H2 database file, so registered schemas survive a restart.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from confluent_kafka.admin import AdminClient

from deploy.stack.tls import TlsFiles
from intelbus.errors import IntelbusError

__all__ = [
    "UNSECURED_OVERRIDES",
    "KafkaNode",
    "is_formatted",
    "kafka_argv",
    "kafka_brokers",
    "kafka_is_ready",
    "prepare_kafka",
    "registry_argv",
    "registry_is_ready",
]

KAFKA_TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "kafka"


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class KafkaNode:
    """What one Kafka node of a local stack is configured with."""

    home: Path
    kafka_port: int
    internal_port: int
    controller_port: int
    tls: TlsFiles
    operator: str
    # Where the listeners bind, and the name the node is reached by (the local stack: both
    # loopback; in a container: every interface of the container, and its service name).
    bind_host: str = "127.0.0.1"
    node_host: str = "127.0.0.1"
    node_id: int = 1
    brokers: int = 1
    # Every controller's host:port (the node's own when it is alone).
    quorum: tuple[str, ...] = ()
    # The brokers' own topics: replicas and min.insync.replicas (intelbus.topics.replication_on).
    replicas: int = 1
    min_insync: int = 1

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def _credential_marker(self) -> Path:
        # Storage formatted before intelbus had authentication holds no SCRAM credential.
        return self.home / "operator-credential-added"

    def config_text(self) -> str:
        template = Template((KAFKA_TEMPLATE_DIR / "server.properties").read_text())
        return template.substitute(
            node_id=self.node_id,
            brokers=self.brokers,
            quorum=",".join(self.quorum) or f"{self.node_host}:{self.controller_port}",
            replicas=self.replicas,
            min_insync=self.min_insync,
            kafka_port=self.kafka_port,
            internal_port=self.internal_port,
            controller_port=self.controller_port,
            data_dir=self.data_dir,
            tls_dir=self.tls.directory,
            operator=self.operator,
            bind_host=self.bind_host,
            node_host=self.node_host,
        )

    def config_is_current(self) -> bool:
        """Does the node's configuration file say what this version of intelbus would write?
        Comments and layout do not count: a node restarts only for a changed setting."""
        return self.config_file.exists() and _settings_of(
            self.config_file.read_text()
        ) == _settings_of(self.config_text())

    @property
    def has_operator_credential(self) -> bool:
        return self._credential_marker.exists()

    def mark_operator_credential(self) -> None:
        self._credential_marker.touch()


def _settings_of(properties: str) -> dict[str, str]:
    """The key=value lines of a properties file (a later line wins, as in Kafka)."""
    settings: dict[str, str] = {}
    for line in properties.splitlines():
        key, separator, value = line.partition("=")
        if separator and not key.lstrip().startswith(("#", "!")):
            settings[key.strip()] = value.strip()
    return settings


def is_formatted(node: KafkaNode) -> bool:
    return (node.data_dir / "meta.properties").exists()


def prepare_kafka(
    java: Path,
    libs: Path,
    node: KafkaNode,
    operator_password: str,
    *,
    cluster_id: str,
    initial_controllers: str | None,
) -> None:
    """Write the node's configuration, and format its storage the first time with the
    operator's SCRAM credential (the one principal that exists before the broker runs):
    alone (``--standalone``) or as one of ``initial_controllers`` (the same on every node)."""
    node.data_dir.mkdir(parents=True, exist_ok=True)
    node.config_file.write_text(node.config_text())
    node.config_file.chmod(0o600)
    if is_formatted(node):
        return
    scram = f"SCRAM-SHA-512=[name={node.operator},password={operator_password}]"
    quorum = (
        ["--initial-controllers", initial_controllers] if initial_controllers else ["--standalone"]
    )
    proc = subprocess.run(
        [
            str(java),
            "-cp",
            f"{libs}/*",
            f"-Dlog4j2.configurationFile={KAFKA_TEMPLATE_DIR / 'log4j2.properties'}",
            "kafka.tools.StorageTool",
            "format",
            *quorum,
            "--cluster-id",
            cluster_id,
            "--config",
            str(node.config_file),
            "--add-scram",
            scram,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-2000:].replace(operator_password, "***")
        raise IntelbusError(f"formatting Kafka storage in {node.data_dir} failed:\n{output}")
    node.mark_operator_credential()


# Overrides that start a node once without security, to add the operator's credential to
# storage formatted by an intelbus that had none (`kafka.Kafka CONFIG --override k=v`).
UNSECURED_OVERRIDES = (
    "listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "authorizer.class.name=",
)


def kafka_argv(
    java: Path,
    libs: Path,
    config: Path,
    heap: str,
    marker: str,
    *,
    overrides: tuple[str, ...] = (),
) -> list[str]:
    return [
        str(java),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_TEMPLATE_DIR / 'log4j2.properties'}",
        marker,
        "-cp",
        f"{libs}/*",
        "kafka.Kafka",
        str(config),
        *(argument for override in overrides for argument in ("--override", override)),
    ]


def kafka_brokers(client: dict[str, Any], ports: tuple[int, ...] = ()) -> set[int]:
    """The ids of the brokers the cluster lists in answer to a metadata request (from a
    client configured with ``client``: bootstrap servers and security); none while no port
    of ``ports`` is open or nobody answers."""
    if ports and not any(_port_open(port) for port in ports):
        return set()
    admin = AdminClient(client | {"log_level": 0})
    try:
        metadata = admin.list_topics(timeout=2)
    except Exception:
        return set()
    return set(metadata.brokers)


def kafka_is_ready(client: dict[str, Any], ports: tuple[int, ...] = (), brokers: int = 1) -> bool:
    """True once the cluster answers a metadata request and lists ``brokers`` brokers."""
    return len(kafka_brokers(client, ports)) >= brokers


def registry_argv(
    java: Path,
    jar: Path,
    *,
    data_dir: Path,
    port: int,
    management_port: int,
    heap: str,
    marker: str,
) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        str(java),
        f"-Xmx{heap}",
        marker,
        "-Dquarkus.http.host=127.0.0.1",
        f"-Dquarkus.http.port={port}",
        "-Dquarkus.management.host=127.0.0.1",
        f"-Dquarkus.management.port={management_port}",
        "-Dapicurio.storage.kind=sql",
        "-Dapicurio.storage.sql.kind=h2",
        f"-Dapicurio.datasource.url=jdbc:h2:file:{data_dir / 'registry'}",
        # A small pool is plenty for one machine and starts faster than the default 20.
        "-Dapicurio.datasource.jdbc.initial-size=2",
        "-Dapicurio.datasource.jdbc.min-size=2",
        "-Dapicurio.datasource.jdbc.max-size=20",
        "-Dapicurio.storage.snapshot.location=" + str(data_dir),
        "-jar",
        str(jar),
    ]


def registry_is_ready(management_port: int) -> bool:
    """True once the registry's readiness check reports UP."""
    if not _port_open(management_port):
        return False
    url = f"http://127.0.0.1:{management_port}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(json.load(response).get("status") == "UP")
    except (urllib.error.URLError, OSError, ValueError):
        return False
