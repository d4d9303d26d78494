"""Where the tests get a real Kafka broker and schema registry from, in this order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``SCHEMA_REGISTRY_URL`` when both are set;
2. testcontainers, when a Docker daemon answers a ping (not merely when the CLI exists);
3. the local stack (``intelbus stack up``), started once per run and stopped afterwards
   unless it was already running.

There is no in-memory fallback: when none works, broker tests fail (never skip).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from deploy.stack.local import LocalStack
from deploy.stack.ports import is_free
from intelbus.settings import Settings
from intelbus.waiting import wait_for

__all__ = ["Endpoints", "provide_endpoints"]

KAFKA_IMAGE = "apache/kafka:4.1.1"
REGISTRY_IMAGE = "apicurio/apicurio-registry:3.3.3"


@dataclass(frozen=True)
class Endpoints:
    bootstrap_servers: str
    schema_registry_url: str
    source: str


def docker_daemon_answers() -> bool:
    try:
        import docker  # noqa: PLC0415 - only needed when probing for Docker

        return bool(docker.from_env(timeout=3).ping())
    except Exception:
        return False


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    assert is_free(port)
    return port


@contextlib.contextmanager
def _containers() -> Iterator[Endpoints]:
    import urllib.request  # noqa: PLC0415

    from testcontainers.core.container import DockerContainer  # noqa: PLC0415

    kafka_port = _free_port()
    kafka = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, kafka_port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{kafka_port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        )
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    registry = DockerContainer(REGISTRY_IMAGE).with_exposed_ports(8080)
    with kafka, registry:
        url = (
            f"http://{registry.get_container_host_ip()}:"
            f"{registry.get_exposed_port(8080)}/apis/ccompat/v7"
        )

        def registry_answers() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/subjects", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        from deploy.stack.nodes import kafka_is_ready  # noqa: PLC0415

        bootstrap = f"127.0.0.1:{kafka_port}"
        wait_for(
            lambda: kafka_is_ready({"bootstrap.servers": bootstrap}),
            timeout=120,
            what="Kafka container",
        )
        wait_for(registry_answers, timeout=120, what="registry container")
        yield Endpoints(bootstrap, url, "testcontainers")


@contextlib.contextmanager
def _local_stack() -> Iterator[Endpoints]:
    settings = Settings()
    stack = LocalStack(settings, say=lambda line: print(f"[stack] {line}"))
    was_running = stack.is_up()
    stack.up()
    try:
        yield Endpoints(settings.bootstrap_servers, settings.schema_registry_url, "local stack")
    finally:
        if not was_running:
            stack.down()


@contextlib.contextmanager
def provide_endpoints() -> Iterator[Endpoints]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    registry = os.environ.get("SCHEMA_REGISTRY_URL")
    if bootstrap and registry:
        yield Endpoints(bootstrap, registry, "environment")
    elif docker_daemon_answers():
        with _containers() as endpoints:
            yield endpoints
    else:
        with _local_stack() as endpoints:
            yield endpoints
