"""How to configure, start and probe each server of the local stack.

Kafka runs exactly as the release's ``kafka-server-start.sh`` would run it
(``java -cp 'libs/*' kafka.Kafka server.properties`` with G1 and a log4j2 config), after
formatting its storage once. Apicurio Registry runs ``java -jar quarkus-run.jar`` with SQL
storage in an H2 database file, so registered schemas survive a restart.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from string import Template

from confluent_kafka.admin import AdminClient

from intelbus.errors import IntelbusError

__all__ = [
    "kafka_argv",
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


def prepare_kafka(
    java: Path, libs: Path, home: Path, kafka_port: int, controller_port: int
) -> Path:
    """Write the node's configuration and format its storage the first time; return the config."""
    data_dir = home / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = home / "server.properties"
    template = Template((KAFKA_TEMPLATE_DIR / "server.properties").read_text())
    config.write_text(
        template.substitute(
            kafka_port=kafka_port, controller_port=controller_port, data_dir=data_dir
        )
    )
    if (data_dir / "meta.properties").exists():
        return config
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    proc = subprocess.run(
        [
            str(java),
            "-cp",
            f"{libs}/*",
            f"-Dlog4j2.configurationFile={KAFKA_TEMPLATE_DIR / 'log4j2.properties'}",
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--cluster-id",
            cluster_id,
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise IntelbusError(
            f"formatting Kafka storage in {data_dir} failed:\n{(proc.stdout + proc.stderr)[-2000:]}"
        )
    return config


def kafka_argv(java: Path, libs: Path, config: Path, heap: str, marker: str) -> list[str]:
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
    ]


def kafka_is_ready(bootstrap_servers: str, port: int | None = None) -> bool:
    """True once the broker answers a metadata request and lists itself."""
    if port is not None and not _port_open(port):
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=2)
    except Exception:
        return False
    return bool(metadata.brokers)


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
