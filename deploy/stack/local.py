"""The local stack: one Kafka node (or a cluster of them, ``--brokers``) and one Apicurio
Registry, as background processes.

Layout under ``home`` (INTELBUS_HOME):

    kafka/data/         Kafka's log directory (the system of record); kafka-1/, kafka-2/, ...
                        for the nodes of a cluster (deploy/stack/cluster.py)
    cluster.json        how many nodes, and the identities their storage was formatted with
    registry/data/      the registry's H2 database file
    logs/*.log          each server's output
    run/*.pid           pid files
    cache/              Maven artifacts (INTELBUS_CACHE_DIR to share one cache)
"""

from __future__ import annotations

import shutil
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
from deploy.stack.artifacts import Artifacts, ensure_artifacts
from deploy.stack.cluster import Cluster, NodePlace, resolve_cluster
from deploy.stack.java import Jdk, find_java
from deploy.stack.ports import ensure_free
from deploy.stack.process import ManagedProcess
from deploy.stack.registry_auth import registry_users, write_registry_users
from deploy.stack.tls import TlsFiles, docker_host, ensure_tls
from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.errors import IntelbusError
from intelbus.names import topic_map
from intelbus.secrets import SecretStore
from intelbus.settings import Settings
from intelbus.topics import replication_on
from intelbus.waiting import Timeout, wait_for

__all__ = ["KafkaProcess", "LocalStack", "ServiceStatus"]

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


@dataclass(frozen=True)
class KafkaProcess:
    """One Kafka node of the stack: where it listens, its configuration, its process."""

    place: NodePlace
    node: nodes.KafkaNode
    process: ManagedProcess


class LocalStack:
    """The stack of ``settings.home``: ``brokers`` Kafka nodes (default: as many as the home
    holds, else one) and the registry."""

    def __init__(self, settings: Settings, say: Say = print, brokers: int | None = None) -> None:
        self.say = say
        home = settings.home
        self.cluster, self._saved = resolve_cluster(home, brokers)
        places = self.cluster.places(settings)
        # The stack's own clients bootstrap from every node, so that any one may be down.
        self.bootstrap_servers = settings.bootstrap_servers_override or ",".join(
            f"127.0.0.1:{place.kafka_port}" for place in places
        )
        self.settings = settings.model_copy(
            update={"bootstrap_servers_override": self.bootstrap_servers}
        )
        marker = "-Dintelbus.service={name}@" + str(home.resolve())
        self.nodes = [
            KafkaProcess(
                place,
                self._node(place, places),
                ManagedProcess(
                    place.name, home / "run", home / "logs", marker.format(name=place.name)
                ),
            )
            for place in places
        ]
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

    def _node(
        self,
        place: NodePlace,
        places: list[NodePlace],
        *,
        home: Path | None = None,
        tls: Path | None = None,
        docker: bool = False,
    ) -> nodes.KafkaNode:
        """A node's configuration: on this machine, or (``docker``) in its container, where
        it binds every interface and is reached by its service name."""
        s, brokers = self.settings, self.cluster.brokers

        def host(of: NodePlace) -> str:
            return docker_host(of.node_id, brokers) if docker else "127.0.0.1"

        replicas, min_insync = replication_on(brokers, topic_map(s).replication_factor)
        return nodes.KafkaNode(
            home or s.home / place.name,
            place.kafka_port,
            place.internal_port,
            place.controller_port,
            TlsFiles(tls or s.tls_dir),
            self.operator_name,
            bind_host="0.0.0.0" if docker else "127.0.0.1",
            node_host=host(place),
            node_id=place.node_id,
            brokers=brokers,
            quorum=tuple(f"{host(p)}:{p.controller_port}" for p in places),
            replicas=replicas,
            min_insync=min_insync,
        )

    def _client(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap_servers} | clients.security(self.operator)

    def kafka_ready(self) -> bool:
        """Does the cluster answer, listing every one of its brokers?"""
        if not SecretStore(self.settings.secrets_dir).has(self.operator_name):
            return False  # a stack made before authentication: not ready until migrated
        ports = tuple(kafka.place.kafka_port for kafka in self.nodes)
        return nodes.kafka_is_ready(self._client(), ports, brokers=self.cluster.brokers)

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
            all(kafka.process.pid() is not None for kafka in self.nodes)
            and self.registry.pid() is not None
            and self.kafka_ready()
            and self.registry_ready()
        )

    def status(self) -> list[ServiceStatus]:
        s = self.settings
        listed = (
            nodes.kafka_brokers(self._client())
            if SecretStore(s.secrets_dir).has(self.operator_name)
            else set()
        )
        return [
            ServiceStatus(
                kafka.place.name,
                kafka.process.pid(),
                kafka.process.pid() is not None and kafka.place.node_id in listed,
                f"127.0.0.1:{kafka.place.kafka_port} "
                f"(controller 127.0.0.1:{kafka.place.controller_port})",
                str(kafka.process.log_file),
            )
            for kafka in self.nodes
        ] + [
            ServiceStatus(
                "registry",
                self.registry.pid(),
                self.registry.pid() is not None and self.registry_ready(),
                f"{s.schema_registry_url} (health :{s.registry_management_port})",
                str(self.registry.log_file),
            ),
        ]

    def process(self, name: str) -> ManagedProcess:
        """The server process called ``name`` (``registry``, ``kafka``, ``kafka-2``, ...)."""
        found = {kafka.place.name: kafka.process for kafka in self.nodes}
        found["registry"] = self.registry
        if name not in found:
            raise IntelbusError(f"no server {name!r} in this stack; it has {', '.join(found)}")
        return found[name]

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
        for kafka in self.nodes:
            if kafka.process.pid() is not None and not kafka.node.config_is_current():
                self.say(
                    f"{kafka.place.name} runs with an older configuration of intelbus: "
                    "restarting it"
                )
                kafka.process.stop()
        self.refresh_registry_users()

    def up(self) -> bool:
        """Start whatever is not running and wait until all answer. False if already up."""
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
        stopped = [kafka for kafka in self.nodes if kafka.process.pid() is None]
        if stopped:
            self._start_kafka(stopped, jdk, artifacts)
        if self.registry.pid() is None:
            self._start_registry(jdk, artifacts)
        processes = [kafka.process for kafka in self.nodes]
        self._await(processes, self.kafka_ready, "Kafka to answer a metadata request")
        self._await(processes, self.transactions_ready, "Kafka's transaction coordinator")
        self._await([self.registry], self.registry_ready, "the registry's health check")
        size = f" ({self.cluster.brokers} brokers)" if self.cluster.brokers > 1 else ""
        self.say(
            f"local stack up in {time.monotonic() - started:.1f}s\n"
            f"  kafka     {self.bootstrap_servers}{size}\n"
            f"  registry  {s.schema_registry_url}\n"
            f"  data      {s.home}"
        )
        return True

    def restart_registry_for_users(self) -> bool:
        """A running registry restarted (it alone: the brokers are left as they are) if its
        users no longer match the principals and their passwords. True if it restarted."""
        if self.registry.pid() is None or not self.refresh_registry_users():
            return False
        s = self.settings
        artifacts = ensure_artifacts(
            s.artifact_cache, s.kafka_versions, s.registry_versions, self.say
        )
        self._start_registry(find_java(s.java_home), artifacts)
        self._await([self.registry], self.registry_ready, "the registry's health check")
        return True

    def _start_registry(self, jdk: Jdk, artifacts: Artifacts) -> None:
        s = self.settings
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

    def _start_kafka(self, stopped: list[KafkaProcess], jdk: Jdk, artifacts: Artifacts) -> None:
        s = self.settings
        for kafka in stopped:
            which = "" if len(self.nodes) == 1 else f", {kafka.place.name}"
            ensure_free(kafka.place.kafka_port, f"Kafka broker{which}")
            ensure_free(kafka.place.internal_port, f"Kafka internal listener{which}")
            ensure_free(kafka.place.controller_port, f"Kafka controller{which}")
        ensure_tls(s.tls_dir)
        password = SecretStore(s.secrets_dir).ensure(self.operator_name)
        if not self._saved and not any(nodes.is_formatted(k.node) for k in self.nodes):
            # Kept before formatting: a node whose format fails gets the same identities again.
            self.cluster.save(s.home)
            self._saved = True
        places = [kafka.place for kafka in self.nodes]
        initial = self.cluster.initial_controllers(places, ["127.0.0.1"] * len(places))
        for kafka in stopped:
            nodes.prepare_kafka(
                jdk.java,
                artifacts.kafka_libs,
                kafka.node,
                password,
                cluster_id=self.cluster.cluster_id,
                initial_controllers=initial,
            )
            argv = partial(
                nodes.kafka_argv,
                jdk.java,
                artifacts.kafka_libs,
                kafka.node.config_file,
                s.kafka_heap,
            )
            if not kafka.node.has_operator_credential:
                self._add_operator_credential(argv, kafka, password)
            version = f"Kafka {artifacts.kafka_version} (Java {jdk.major})"
            self.say(f"starting {version} {kafka.place.name} ...")
            kafka.process.start(argv(kafka.process.marker), cwd=kafka.node.home)

    def init_for_docker(self) -> list[Path]:
        """The CA, the broker's certificate, the operator's credential, the brokers'
        configurations and the registry's users, as docker-compose.yml (one node) or
        docker-compose.cluster.yml mounts them; returns the brokers' configuration files."""
        s = self.settings
        ensure_tls(s.tls_dir)
        SecretStore(s.secrets_dir).ensure(self.operator_name)
        directory = s.home / "docker"
        directory.mkdir(parents=True, exist_ok=True)
        places = [kafka.place for kafka in self.nodes]
        configs = []
        for place in places:
            node = self._node(
                place,
                places,
                home=Path("/var/lib/kafka"),
                tls=Path("/etc/intelbus/tls"),
                docker=True,
            )
            name = "server.properties" if len(places) == 1 else f"server-{place.node_id}.properties"
            configs.append(directory / name)
            configs[-1].write_text(node.config_text())
        if len(places) > 1:
            # Every container formats with the same cluster id and voters (compose reads them).
            hosts = [docker_host(p.node_id, len(places)) for p in places]
            (directory / "cluster.env").write_text(
                f"INTELBUS_CLUSTER_ID={self.cluster.cluster_id}\n"
                f"INTELBUS_INITIAL_CONTROLLERS={self.cluster.initial_controllers(places, hosts)}\n"
            )
            self.cluster.save(s.home)
        self.refresh_registry_users()
        return configs

    def _add_operator_credential(
        self, argv: Callable[..., list[str]], kafka: KafkaProcess, password: str
    ) -> None:
        """Storage formatted by an intelbus without authentication has no SCRAM credential,
        and a secured broker admits nobody without one: start the node once unsecured on
        loopback, add the operator's credential, stop it. The data stays as it is."""
        self.say("adding the operator's credential to storage made before authentication ...")
        process = kafka.process
        process.start(argv(process.marker, overrides=nodes.UNSECURED_OVERRIDES), kafka.node.home)
        try:
            plain: dict[str, Any] = {
                "bootstrap.servers": f"127.0.0.1:{kafka.place.kafka_port}",
                "logger": clients.LIBRDKAFKA_LOG,
            }
            self._await([process], lambda: nodes.kafka_is_ready(plain), "the unsecured start")
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
            process.stop()
        kafka.node.mark_operator_credential()

    def _await(self, processes: list[ManagedProcess], ready: Callable[[], bool], what: str) -> None:
        def ready_or_dead() -> bool:
            for process in processes:
                if process.pid() is None:
                    raise IntelbusError(
                        f"{process.name} exited while starting; the end of {process.log_file}:\n"
                        + process.tail(25)
                    )
            return ready()

        try:
            wait_for(ready_or_dead, timeout=self.settings.start_timeout_s, what=what, interval=0.2)
        except Timeout as timeout:
            tails = "\n".join(f"{p.log_file}:\n{p.tail(25)}" for p in processes)
            raise IntelbusError(f"{timeout}; the end of {tails}") from None

    def down(self) -> bool:
        """Stop every server (registry first: it is Kafka's client). False if none ran."""
        stopped = False
        for process in (self.registry, *(kafka.process for kafka in self.nodes)):
            if process.stop():
                self.say(f"stopped {process.name}")
                stopped = True
        if not stopped:
            self.say("local stack is not running; nothing to stop")
        return stopped

    def reset(self) -> None:
        """Stop everything and delete the data of the brokers and the registry, and the
        cluster's size; the CA, credentials, keys and fetched artifacts stay."""
        self.down()
        home = self.settings.home
        for directory in [home / kafka.place.name for kafka in self.nodes] + [
            home / "registry" / "data"
        ]:
            if directory.exists():
                shutil.rmtree(directory)
                self.say(f"deleted {directory}")
        Cluster.forget(home)
