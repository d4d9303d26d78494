"""A ready client configuration for a principal, for the people who connect to the bus:
librdkafka's keys (confluent-kafka, kcat) or Java's (Kafka's own tools, Java clients)."""

from __future__ import annotations

from typing import Literal

from intelbus import clients
from intelbus.settings import Settings

__all__ = ["client_config", "render"]


def client_config(settings: Settings, principal: str) -> dict[str, str]:
    """librdkafka's configuration of ``principal``: bootstrap, TLS and its SCRAM secret."""
    config = {"bootstrap.servers": settings.bootstrap_servers}
    return config | {
        k: str(v) for k, v in clients.security(settings.as_principal(principal)).items()
    }


def _java(config: dict[str, str]) -> dict[str, str]:
    java = {
        "bootstrap.servers": config["bootstrap.servers"],
        "security.protocol": config["security.protocol"],
    }
    if config["security.protocol"] == "PLAINTEXT":
        return java
    username, password = config["sasl.username"], config["sasl.password"]
    return java | {
        "sasl.mechanism": config["sasl.mechanism"],
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{username}" password="{password}";',
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": config["ssl.ca.location"],
    }


def render(config: dict[str, str], style: Literal["librdkafka", "java"] | str) -> str:
    """As a properties file (both formats read ``key=value`` lines)."""
    chosen = _java(config) if style == "java" else config
    header = (
        "# intelbus client configuration: contains a password; keep it owner-only\n"
        f"# ({style} format)\n"
    )
    return header + "".join(f"{key}={value}\n" for key, value in chosen.items())
