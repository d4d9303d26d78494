"""Where the tests get a real Kafka broker and schema registry from, in this order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``SCHEMA_REGISTRY_URL`` when both are set;
2. docker-compose.yml through testcontainers, when a Docker daemon answers a ping (not
   merely when the CLI exists; the machines that build intelbus have none);
3. the local stack (``intelbus stack up``), started once per run and stopped afterwards
   unless it was already running.

There is no in-memory fallback: when none works, broker tests fail (never skip).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.stack.local import LocalStack
from deploy.stack.ports import is_free
from intelbus import clients
from intelbus.access.broker import apply_access, drop_prefixed
from intelbus.access.principals import load_principals
from intelbus.names import topic_map
from intelbus.settings import Settings
from intelbus.topics import apply_topics
from intelbus.waiting import wait_for

__all__ = ["Endpoints", "private_bus", "provide_endpoints"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    """docker-compose.yml, the one container definition of the stack (secured like the local
    stack: `intelbus stack init` makes its certificates, credentials and configuration)."""
    from testcontainers.compose import DockerCompose  # noqa: PLC0415

    settings = Settings()
    stack = LocalStack(settings, say=lambda line: print(f"[stack] {line}"))
    stack.init_for_docker()
    os.environ["INTELBUS_HOME"] = str(settings.home)  # what the compose file mounts
    with DockerCompose(str(PROJECT_ROOT), wait=True):
        wait_for(stack.kafka_ready, timeout=120, what="the Kafka container")
        wait_for(stack.registry_ready, timeout=120, what="the registry container")
        yield Endpoints(settings.bootstrap_servers, settings.schema_registry_url, "docker compose")


@contextlib.contextmanager
def _local_stack() -> Iterator[Endpoints]:
    settings = Settings()
    stack = LocalStack(settings, say=lambda line: print(f"[stack] {line}"))
    # Stopped afterwards only if nothing of it ran: a stack another session is restarting a
    # server of (a rotation restarts the registry) is not ours to stop.
    servers = [stack.registry, *(kafka.process for kafka in stack.nodes)]
    ours = all(server.pid() is None for server in servers)
    stack.up()
    try:
        yield Endpoints(settings.bootstrap_servers, settings.schema_registry_url, "local stack")
    finally:
        if ours:
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


@contextlib.contextmanager
def private_bus(settings: Settings) -> Iterator[Settings]:
    """The topics and ACLs of ``settings``' topic prefix, created and dropped afterwards: a
    shared broker that kept every test's partitions would run out of file descriptors."""
    prefix = settings.topic_prefix
    principals = load_principals(settings.policies_dir)
    topics = topic_map(settings)
    admin = clients.admin(settings)
    apply_topics(admin, topics.specs(principals))
    # Deny by default: the test's router, publishers and subscribers get the ACLs of the data.
    apply_access(admin, settings, topics, principals)
    try:
        yield settings
    finally:
        drop_prefixed(clients.admin(settings.model_copy(update={"topic_prefix": ""})), (prefix,))
