"""How many Kafka nodes a local stack runs, where each one listens and lives, and the
identities its storage is formatted with.

The size is kept in ``<home>/cluster.json`` when storage is first formatted, so that
``intelbus stack up`` without ``--brokers`` restarts the same cluster. Node ``n`` (1-based)
listens on the settings' ports plus ``(n - 1) * NODE_PORT_STEP`` (9092, 9192, 9292 for the
clients by default). A one-node stack keeps the names it always had (``kafka``,
``<home>/kafka``); the nodes of a cluster are ``kafka-1``, ``kafka-2``, ...

Every node is a combined broker + controller. On a machine of two CPUs, three JVMs cost a
third of what a separate controller quorum (three more) would, and a cluster of three
controllers survives losing one just as three brokers do; killing a node then also kills a
voter (sometimes the active controller), which the fault suite wants exercised anyway.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from intelbus.errors import IntelbusError
from intelbus.secrets import write_private
from intelbus.settings import Settings

__all__ = ["MAX_BROKERS", "NODE_PORT_STEP", "Cluster", "NodePlace", "kafka_uuid", "resolve_cluster"]

NODE_PORT_STEP = 100
MAX_BROKERS = 5
_FILE = "cluster.json"


def kafka_uuid() -> str:
    """A random id as Kafka writes one (``kafka-storage.sh random-uuid``): URL-safe base64
    of 16 bytes without padding, never starting with '-' (it would read as an option)."""
    while True:
        text = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


@dataclass(frozen=True)
class NodePlace:
    """One node: its id, name (processes, logs, directory) and ports."""

    node_id: int
    name: str
    kafka_port: int
    internal_port: int
    controller_port: int


@dataclass(frozen=True)
class Cluster:
    """The cluster's size and the identities its nodes are formatted with: one cluster id,
    and per node the directory id that names it among the initial controllers."""

    brokers: int
    cluster_id: str
    directory_ids: tuple[str, ...]

    @classmethod
    def new(cls, brokers: int) -> Cluster:
        if not 1 <= brokers <= MAX_BROKERS:
            raise IntelbusError(f"--brokers must be between 1 and {MAX_BROKERS}, not {brokers}")
        return cls(brokers, kafka_uuid(), tuple(kafka_uuid() for _ in range(brokers)))

    def places(self, settings: Settings) -> list[NodePlace]:
        return [
            NodePlace(
                node_id=n,
                name="kafka" if self.brokers == 1 else f"kafka-{n}",
                kafka_port=settings.kafka_port + (n - 1) * NODE_PORT_STEP,
                internal_port=settings.internal_port + (n - 1) * NODE_PORT_STEP,
                controller_port=settings.controller_port + (n - 1) * NODE_PORT_STEP,
            )
            for n in range(1, self.brokers + 1)
        ]

    def initial_controllers(self, places: list[NodePlace], hosts: list[str]) -> str | None:
        """``--initial-controllers`` (``id@host:port:directory-id,...``), the same for every
        node; None for one node, which formats with ``--standalone``."""
        if self.brokers == 1:
            return None
        return ",".join(
            f"{place.node_id}@{host}:{place.controller_port}:{directory}"
            for place, host, directory in zip(places, hosts, self.directory_ids, strict=True)
        )

    def save(self, home: Path) -> None:
        text = json.dumps(
            {
                "brokers": self.brokers,
                "clusterId": self.cluster_id,
                "directoryIds": list(self.directory_ids),
            },
            indent=2,
        )
        home.mkdir(parents=True, exist_ok=True)
        write_private(home / _FILE, (text + "\n").encode(), 0o644)

    @staticmethod
    def forget(home: Path) -> None:
        (home / _FILE).unlink(missing_ok=True)


def _load(home: Path) -> Cluster | None:
    path = home / _FILE
    try:
        data = json.loads(path.read_text())
        return Cluster(int(data["brokers"]), str(data["clusterId"]), tuple(data["directoryIds"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IntelbusError(
            f"{path} is unreadable ({error}); `intelbus stack reset --yes` starts over"
        ) from None


def resolve_cluster(home: Path, brokers: int | None) -> tuple[Cluster, bool]:
    """The home's cluster, or a new one of ``brokers`` (default 1) nodes; and whether it is
    saved already. A home made before clusters existed holds one node. Asking for another
    size than the home holds is an error: its data belongs to that cluster."""
    saved = _load(home)
    held = saved.brokers if saved else (1 if (home / "kafka" / "data").exists() else None)
    if held is not None and brokers is not None and brokers != held:
        raise IntelbusError(
            f"{home} holds a {held}-broker cluster, not {brokers}: `intelbus stack reset --yes` "
            "deletes its data first, or set INTELBUS_HOME (and the ports) for another stack"
        )
    if saved is not None:
        return saved, True
    return Cluster.new(brokers or held or 1), False
