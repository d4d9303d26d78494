"""Topics as code: read ``deploy/topics.yaml``, name every topic, and apply it idempotently."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    TopicMetadata,
)
from pydantic import BaseModel, ConfigDict, Field

from intelbus.access.principals import Principals
from intelbus.errors import IntelbusError
from intelbus.waiting import wait_for
from intelbus.yamlfile import load_yaml_model

__all__ = ["TopicMap", "TopicSpec", "apply_topics", "load_topic_map", "replication_on"]

RECIPIENT_ROLES = ("feed", "alerts", "parked")
PUBLISHER_ROLES = ("lookouts", "officer_safety", "outcomes", "hits", "operations")
APPROVER_ROLES = ("authorizations",)
TOPIC_ROLES = ("decisions", "dead_letter", "lifecycle", "deconflict_index", "deconflict_notices")
_TIMEOUT_S = 30
MIN_INSYNC = "min.insync.replicas"


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    partitions: int | None = Field(default=None, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    config: dict[str, str] = {}


class _Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partitions: int = Field(ge=1)
    replication_factor: int = Field(ge=1)
    config: dict[str, str] = {}


class _TopicsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defaults: _Defaults
    topics: dict[Literal[TOPIC_ROLES], _Declared]  # type: ignore[valid-type]
    per_publisher: dict[Literal[PUBLISHER_ROLES], _Declared]  # type: ignore[valid-type]
    per_approver: dict[Literal[APPROVER_ROLES], _Declared]  # type: ignore[valid-type]
    per_recipient: dict[Literal[RECIPIENT_ROLES], _Declared]  # type: ignore[valid-type]


def replication_on(brokers: int, factor: int, min_insync: int | None = None) -> tuple[int, int]:
    """The replication factor and min.insync.replicas a topic declared with ``factor`` (and
    ``min_insync``, by default one fewer) gets on a cluster of ``brokers``: as declared when
    the cluster is large enough, else every broker holds a replica and one may be down."""
    wanted = min_insync if min_insync is not None else max(1, factor - 1)
    if brokers >= factor:
        return factor, wanted
    return brokers, min(wanted, max(1, brokers - 1))


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]

    def on_cluster(self, brokers: int) -> TopicSpec:
        """This topic as a cluster of ``brokers`` can hold it (see :func:`replication_on`)."""
        factor, min_insync = replication_on(
            brokers, self.replication_factor, int(self.config[MIN_INSYNC])
        )
        return replace(
            self, replication_factor=factor, config=self.config | {MIN_INSYNC: str(min_insync)}
        )


@dataclass(frozen=True)
class TopicMap:
    """The topic names of one bus (prefix included) and their declared settings."""

    prefix: str
    _file: _TopicsFile

    def _spec(self, declared: _Declared, name: str) -> TopicSpec:
        defaults = self._file.defaults
        factor = declared.replication_factor or defaults.replication_factor
        _, min_insync = replication_on(factor, factor)
        return TopicSpec(
            name=self.prefix + name,
            partitions=declared.partitions or defaults.partitions,
            replication_factor=factor,
            config={MIN_INSYNC: str(min_insync)} | defaults.config | declared.config,
        )

    @property
    def replication_factor(self) -> int:
        """The replication every topic gets unless it declares its own (the broker's internal
        topics follow it too: deploy/stack)."""
        return self._file.defaults.replication_factor

    def role(self, role: str) -> TopicSpec:
        declared = self._file.topics[role]
        return self._spec(declared, declared.name)

    def of_publisher(self, role: str, publisher: str) -> TopicSpec:
        declared = (self._file.per_publisher | self._file.per_approver)[role]
        return self._spec(declared, declared.name.format(publisher=publisher))

    def lookouts(self, publisher: str) -> str:
        return self.of_publisher("lookouts", publisher).name

    def officer_safety(self, publisher: str) -> str:
        return self.of_publisher("officer_safety", publisher).name

    def hits(self, publisher: str) -> str:
        return self.of_publisher("hits", publisher).name

    def outcomes(self, publisher: str) -> str:
        return self.of_publisher("outcomes", publisher).name

    def operations(self, publisher: str) -> str:
        return self.of_publisher("operations", publisher).name

    def authorizations(self, approver: str) -> str:
        return self.of_publisher("authorizations", approver).name

    def publisher_of(self, role: str, topic: str) -> str | None:
        """The publisher whose ``role`` topic ``topic`` is, if it is one."""
        template = self.prefix + (self._file.per_publisher | self._file.per_approver)[role].name
        head, _, tail = template.partition("{publisher}")
        if topic.startswith(head) and topic.endswith(tail) and len(topic) > len(head + tail):
            return topic[len(head) : len(topic) - len(tail)]
        return None

    @property
    def decisions(self) -> str:
        return self.role("decisions").name

    @property
    def dead_letter(self) -> str:
        return self.role("dead_letter").name

    @property
    def lifecycle(self) -> str:
        return self.role("lifecycle").name

    @property
    def deconflict_index(self) -> str:
        return self.role("deconflict_index").name

    @property
    def deconflict_notices(self) -> str:
        return self.role("deconflict_notices").name

    def of_recipient(self, role: str, recipient: str) -> TopicSpec:
        declared = self._file.per_recipient[role]
        return self._spec(declared, declared.name.format(recipient=recipient))

    def feed(self, recipient: str) -> str:
        return self.of_recipient("feed", recipient).name

    def alerts(self, recipient: str) -> str:
        return self.of_recipient("alerts", recipient).name

    def parked(self, recipient: str) -> str:
        return self.of_recipient("parked", recipient).name

    def deliveries(self, recipient: str) -> list[str]:
        """Every topic the router delivers to ``recipient`` on: its feed and its alerts."""
        return [self.feed(recipient), self.alerts(recipient)]

    def specs(self, principals: Principals) -> list[TopicSpec]:
        """Every topic of the bus: its own, and one set per publisher, approver, recipient."""
        return (
            [self.role(role) for role in TOPIC_ROLES]
            + [
                self.of_publisher(role, publisher.id)
                for publisher in principals.publishers
                for role in PUBLISHER_ROLES
            ]
            + [
                self.of_publisher(role, approver.id)
                for approver in principals.approvers
                for role in APPROVER_ROLES
            ]
            + [
                self.of_recipient(role, recipient)
                for recipient in principals.recipients
                for role in RECIPIENT_ROLES
            ]
        )


def load_topic_map(path: Path, prefix: str = "") -> TopicMap:
    return TopicMap(prefix, load_yaml_model(path, _TopicsFile))


def _result(future: object) -> None:
    future.result(timeout=_TIMEOUT_S)  # type: ignore[attr-defined]


def apply_topics(admin: AdminClient, declared: list[TopicSpec]) -> dict[str, str]:
    """Create missing topics, add partitions and set configs where they differ, with the
    replication the cluster can hold (:meth:`TopicSpec.on_cluster`).

    Returns what was done per topic: "created", "updated: ..." or "unchanged".
    """
    metadata = admin.list_topics(timeout=_TIMEOUT_S)
    existing = metadata.topics
    specs = [spec.on_cluster(len(metadata.brokers)) for spec in declared]
    outcome: dict[str, str] = {}
    missing = [spec for spec in specs if spec.name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(s.name, s.partitions, s.replication_factor, config=s.config)
                for s in missing
            ],
            operation_timeout=_TIMEOUT_S,
        )
        for name, future in futures.items():
            try:
                _result(future)
                outcome[name] = "created"
            except KafkaException as error:
                if "TOPIC_ALREADY_EXISTS" not in str(error):
                    raise IntelbusError(f"creating topic {name} failed: {error}") from None
                outcome[name] = "unchanged"
        # A created topic answers produce and list-offsets requests only once every
        # partition has a leader: return when it is usable, not merely accepted.
        created = [name for name, done in outcome.items() if done == "created"]
        wait_for(
            lambda: _have_leaders(admin, created),
            timeout=_TIMEOUT_S,
            what=f"leaders for the partitions of {len(created)} new topic(s)",
        )
    for spec in specs:
        if spec.name in existing:
            outcome[spec.name] = _align(admin, spec, existing[spec.name])
    return outcome


def _have_leaders(admin: AdminClient, names: list[str]) -> bool:
    topics = admin.list_topics(timeout=_TIMEOUT_S).topics
    return all(
        name in topics
        and topics[name].error is None
        and all(p.leader >= 0 and p.error is None for p in topics[name].partitions.values())
        for name in names
    )


def _align(admin: AdminClient, spec: TopicSpec, topic: TopicMetadata) -> str:
    changes: list[str] = []
    partitions = len(topic.partitions)
    replicas = min(len(p.replicas) for p in topic.partitions.values())
    if replicas < spec.replication_factor:
        # Moving replicas is a reassignment (kafka-reassign-partitions.sh), not a config.
        changes.append(f"has {replicas} replica(s) (declared {spec.replication_factor}; not added)")
    if spec.partitions > partitions:
        _result(admin.create_partitions([NewPartitions(spec.name, spec.partitions)])[spec.name])
        changes.append(f"partitions {partitions}->{spec.partitions}")
    elif spec.partitions < partitions:
        changes.append(f"has {partitions} partitions (declared {spec.partitions}; not reduced)")
    resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name)
    current = _describe(admin, resource)
    differing = {k: v for k, v in spec.config.items() if current.get(k) != v}
    if differing:
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in differing.items()
        ]
        altered = ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=entries)
        _result(admin.incremental_alter_configs([altered])[altered])
        # The broker acknowledges an alter before every reader of the config sees it: only
        # report the topic aligned (and let the next apply compare) once it reads back.
        wait_for(
            lambda: _describe(admin, resource).items() >= differing.items(),
            timeout=_TIMEOUT_S,
            what=f"the new configs of {spec.name} to take effect",
        )
        changes.extend(f"{k}={v}" for k, v in differing.items())
    return "updated: " + ", ".join(changes) if changes else "unchanged"


def _describe(admin: AdminClient, resource: ConfigResource) -> dict[str, str]:
    entries = admin.describe_configs([resource])[resource].result(timeout=_TIMEOUT_S)
    return {name: entry.value for name, entry in entries.items()}
