"""The local stack: one Kafka node and one Apicurio Registry, as background processes.

Layout under ``home`` (INTELBUS_HOME):

    kafka/data/         Kafka's log directory (the system of record)
    registry/data/      the registry's H2 database file
    logs/*.log          each server's output
    run/*.pid           pid files
    cache/              Maven artifacts (INTELBUS_CACHE_DIR to share one cache)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from deploy.stack import nodes
from deploy.stack.artifacts import ensure_artifacts
from deploy.stack.java import find_java
from deploy.stack.ports import ensure_free
from deploy.stack.process import ManagedProcess
from deploy.stack.registry_auth import registry_users, write_registry_users
from deploy.stack.tls import DOCKER_HOST, TlsFiles, ensure_tls
from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.errors import IntelbusError
from intelbus.secrets import SecretStore
from intelbus.settings import Settings
from intelbus.waiting import Timeout, wait_for

__all__ = ["LocalStack", "ServiceStatus"]

_TRANSACTIONS_PROBE_S = 5.0
_SCRAM_ITERATIONS = 8192

Say = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    healthy: bool
    address: str
    log: str

    @property
    def state(self) -> str:
        if self.pid is None:
            return "stopped"
        return "healthy" if self.healthy else "starting/unhealthy"


class LocalStack:
    def __init__(self, settings: Settings, say: Say = print) -> None:
        self.settings = settings
        self.say = say
        home = settings.home
        marker = "-Dintelbus.service={name}@" + str(home.resolve())
        self.kafka = ManagedProcess(
            "kafka", home / "run", home / "logs", marker.format(name="kafka")
        )
        self.registry = ManagedProcess(
            "registry", home / "run", home / "logs", marker.format(name="registry")
        )

    # -- probes ---------------------------------------------------------------------------

    @property
    def operator_name(self) -> str:
        return load_principals(self.settings.policies_dir).operator

    @property
    def operator(self) -> Settings:
        """The settings of the stack's own probes and set-up: the operator's identity."""
        return self.settings.as_principal(self.operator_name)

    def _node(self) -> nodes.KafkaNode:
        s = self.settings
        return nodes.KafkaNode(
            s.home / "kafka",
            s.kafka_port,
            s.internal_port,
            s.controller_port,
            TlsFiles(s.tls_dir),
            self.operator_name,
        )

    def kafka_ready(self) -> bool:
        if not SecretStore(self.settings.secrets_dir).has(self.operator_name):
            return False  # a stack made before authentication: not ready until migrated
        client = {"bootstrap.servers": self.settings.bootstrap_servers}
        return nodes.kafka_is_ready(
            client | clients.security(self.operator), self.settings.kafka_port
        )

    def transactions_ready(self) -> bool:
        """Has a new broker loaded its transaction state and got producer ids to hand out?
        Until then every producer's first request is refused and retried (with a warning)."""
        probe = clients.transactional_producer(
            self.operator, "intelbus-stack", "intelbus-stack-probe", log_level=3
        )
        try:
            probe.init_transactions(_TRANSACTIONS_PROBE_S)
            return True
        except KafkaException as exception:
            if exception.args[0].retriable():
                return False
            raise

    def registry_ready(self) -> bool:
        return nodes.registry_is_ready(self.settings.registry_management_port)

    def is_up(self) -> bool:
        return (
            self.kafka.pid() is not None
            and self.registry.pid() is not None
            and self.kafka_ready()
            and self.registry_ready()
        )

    def status(self) -> list[ServiceStatus]:
        s = self.settings
        return [
            ServiceStatus(
                "kafka",
                self.kafka.pid(),
                self.kafka.pid() is not None and self.kafka_ready(),
                f"{s.bootstrap_servers} (controller 127.0.0.1:{s.controller_port})",
                str(self.kafka.log_file),
            ),
            ServiceStatus(
                "registry",
                self.registry.pid(),
                self.registry.pid() is not None and self.registry_ready(),
                f"{s.schema_registry_url} (health :{s.registry_management_port})",
                str(self.registry.log_file),
            ),
        ]

    # -- lifecycle ------------------------------------------------------------------------

    def refresh_registry_users(self) -> bool:
        """Bring the registry's users in line with the principals and their passwords; a
        running registry restarts to read them. True if they changed."""
        store = SecretStore(self.settings.secrets_dir)
        text = registry_users(load_principals(self.settings.policies_dir), store)
        changed = write_registry_users(self.settings.home / "registry", text)
        if changed and self.registry.pid() is not None:
            self.say("the registry's users changed: restarting it")
            self.registry.stop()
        return changed

    def _stop_what_changed(self) -> None:
        """Stop a server whose configuration this intelbus would write differently, so that
        ``up`` starts it with the current one (nothing else is lost: the data stays)."""
        if self.kafka.pid() is not None and not self._node().config_is_current():
            self.say("Kafka runs with an older configuration of intelbus: restarting it")
            self.kafka.stop()
        self.refresh_registry_users()

    def up(self) -> bool:
        """Start whatever is not running and wait until both answer. False if already up."""
        self._stop_what_changed()
        if self.is_up():
            self.say(f"local stack already running (home {self.settings.home}); nothing to do")
            return False
        s = self.settings
        started = time.monotonic()
        jdk = find_java(s.java_home)
        artifacts = ensure_artifacts(
            s.artifact_cache, s.kafka_versions, s.registry_versions, self.say
        )
        node = self._node()
        if self.kafka.pid() is None:
            ensure_free(s.kafka_port, "Kafka broker")
            ensure_free(s.internal_port, "Kafka internal listener")
            ensure_free(s.controller_port, "Kafka controller")
            ensure_tls(s.tls_dir)
            password = SecretStore(s.secrets_dir).ensure(self.operator_name)
            nodes.prepare_kafka(jdk.java, artifacts.kafka_libs, node, password)
            argv = partial(
                nodes.kafka_argv, jdk.java, artifacts.kafka_libs, node.config_file, s.kafka_heap
            )
            if not node.has_operator_credential:
                self._add_operator_credential(argv, node, password)
            self.say(f"starting Kafka {artifacts.kafka_version} (Java {jdk.major}) ...")
            self.kafka.start(argv(self.kafka.marker), cwd=node.home)
        if self.registry.pid() is None:
            ensure_free(s.registry_port, "schema registry")
            ensure_free(s.registry_management_port, "schema registry health")
            self.say(f"starting Apicurio Registry {artifacts.registry_version} ...")
            self.registry.start(
                nodes.registry_argv(
                    jdk.java,
                    artifacts.registry_jar,
                    data_dir=s.home / "registry" / "data",
                    port=s.registry_port,
                    management_port=s.registry_management_port,
                    heap=s.registry_heap,
                    marker=self.registry.marker,
                ),
                cwd=s.home / "registry",
            )
        self._await(self.kafka, self.kafka_ready, "Kafka to answer a metadata request")
        self._await(self.kafka, self.transactions_ready, "Kafka's transaction coordinator")
        self._await(self.registry, self.registry_ready, "the registry's health check")
        self.say(
            f"local stack up in {time.monotonic() - started:.1f}s\n"
            f"  kafka     {s.bootstrap_servers}\n"
            f"  registry  {s.schema_registry_url}\n"
            f"  data      {s.home}"
        )
        return True

    def init_for_docker(self) -> Path:
        """The CA, the broker's certificate, the operator's credential, the broker's
        configuration and the registry's users, as docker-compose.yml mounts them; returns
        the broker's configuration file."""
        s = self.settings
        ensure_tls(s.tls_dir)
        SecretStore(s.secrets_dir).ensure(self.operator_name)
        node = nodes.KafkaNode(
            Path("/var/lib/kafka"),
            9092,
            9094,
            9093,
            TlsFiles(Path("/etc/intelbus/tls")),
            self.operator_name,
            bind_host="0.0.0.0",
            node_host=DOCKER_HOST,
        )
        config = s.home / "docker" / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(node.config_text())
        self.refresh_registry_users()
        return config

    def _add_operator_credential(
        self, argv: Callable[..., list[str]], node: nodes.KafkaNode, password: str
    ) -> None:
        """Storage formatted by an intelbus without authentication has no SCRAM credential,
        and a secured broker admits nobody without one: start the node once unsecured on
        loopback, add the operator's credential, stop it. The data stays as it is."""
        self.say("adding the operator's credential to storage made before authentication ...")
        self.kafka.start(argv(self.kafka.marker, overrides=nodes.UNSECURED_OVERRIDES), node.home)
        try:
            plain: dict[str, Any] = {
                "bootstrap.servers": self.settings.bootstrap_servers,
                "logger": clients.LIBRDKAFKA_LOG,
            }
            self._await(self.kafka, lambda: nodes.kafka_is_ready(plain), "the unsecured start")
            admin = AdminClient(plain)
            upsert = UserScramCredentialUpsertion(
                self.operator_name,
                ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, _SCRAM_ITERATIONS),
                password.encode(),
            )
            for future in admin.alter_user_scram_credentials([upsert]).values():
                future.result(timeout=30)
        finally:
            # Whatever happened, an unsecured broker never stays up.
            self.kafka.stop()
        node.mark_operator_credential()

    def _await(self, process: ManagedProcess, ready: Callable[[], bool], what: str) -> None:
        def ready_or_dead() -> bool:
            if process.pid() is None:
                raise IntelbusError(
                    f"{process.name} exited while starting; the end of {process.log_file}:\n"
                    + process.tail(25)
                )
            return ready()

        try:
            wait_for(ready_or_dead, timeout=self.settings.start_timeout_s, what=what, interval=0.2)
        except Timeout as timeout:
            raise IntelbusError(
                f"{timeout}; the end of {process.log_file}:\n{process.tail(25)}"
            ) from None

    def down(self) -> bool:
        """Stop both servers (registry first: it is Kafka's client). False if none ran."""
        stopped = False
        for process in (self.registry, self.kafka):
            if process.stop():
                self.say(f"stopped {process.name}")
                stopped = True
        if not stopped:
            self.say("local stack is not running; nothing to stop")
        return stopped
