"""Publish lookouts, officer-safety alerts, authorizations and case outcomes.

``Publisher.publish(record)`` returns once the broker has acknowledged the record (acks=all,
idempotent producer) and raises :class:`PublishError` otherwise. ``publish_batch`` publishes
many records in one Kafka transaction: a read_committed reader (the router) sees all of them
or none, so a broker failure half-way never leaves half a batch on the bus.

Keys keep what must stay in order together: every version and the withdrawal of a lookout
are keyed by its event id (one partition, where the router keeps the event's state), an
alert by its first subject's identifier (falling back to its event id), an authorization by
its id (the topic is compacted by it), a case outcome by the event it reports on, an
operation by its id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from intelbus import clients, serde
from intelbus.access.principals import Role, load_principals
from intelbus.errors import IntelbusError
from intelbus.models import (
    CaseOutcome,
    DeconflictionCheck,
    DisclosureAuthorization,
    HitAnswer,
    HitReport,
    Lookout,
    OfficerSafetyAlert,
    Operation,
    Record,
    Withdrawal,
)
from intelbus.names import publisher_transactional_id, topic_map
from intelbus.position import Position
from intelbus.producer import produce
from intelbus.progress import Progress
from intelbus.settings import Settings
from intelbus.topics import TopicMap

__all__ = ["Outgoing", "PublishError", "Publisher", "message_key"]

_ACK_TIMEOUT_S = 60.0
_TOPIC_ROLE: dict[type[Record], str] = {
    Lookout: "lookouts",
    Withdrawal: "lookouts",
    OfficerSafetyAlert: "officer_safety",
    DisclosureAuthorization: "authorizations",
    CaseOutcome: "outcomes",
    HitReport: "hits",
    HitAnswer: "hits",
    Operation: "operations",
    DeconflictionCheck: "operations",
}


class PublishError(IntelbusError):
    """The broker did not acknowledge what was published."""


@dataclass(frozen=True)
class Outgoing:
    """A validated, serialized record ready to be produced."""

    topic: str
    key: bytes
    value: bytes
    event_id: str


def message_key(record: Record) -> str:
    match record:
        case Lookout() | Withdrawal():
            return record.event_id
        case OfficerSafetyAlert():
            return record.subjects.key or record.event_id
        case DisclosureAuthorization():
            return record.authorization_id
        case CaseOutcome() | HitReport() | HitAnswer():
            return record.event_id
        case Operation():
            return record.operation_id
        case DeconflictionCheck():
            return record.check_id
    raise TypeError(f"{type(record).__name__} is not published by producers")


def _event_id(record: Record) -> str:
    if isinstance(record, DisclosureAuthorization):
        return record.authorization_id
    if isinstance(record, CaseOutcome):
        return record.outcome_id
    if isinstance(record, HitReport | HitAnswer):
        return record.hit_id
    if isinstance(record, Operation):
        return record.operation_id
    if isinstance(record, DeconflictionCheck):
        return record.check_id
    assert isinstance(record, Lookout | OfficerSafetyAlert | Withdrawal)
    return record.event_id


def _declared_agency(record: Record) -> str:
    match record:
        case Lookout() | OfficerSafetyAlert() | Operation():
            return record.originator.agency
        case CaseOutcome():
            return record.reported_by
        case Withdrawal():
            return record.originator
        case DeconflictionCheck():
            return record.asked_by.agency
        case HitReport():
            return record.reported_by
        case HitAnswer():
            return record.answered_by
    raise TypeError(type(record).__name__)


class Publisher:
    """Publishes as ``settings.principal``: a publisher principal writes its own agency's
    topics (whatever its records claim: the router dead-letters a false originator); the
    operator publishes each record on the topics of the agency it names."""

    def __init__(self, settings: Settings, client_id: str = "intelbus-publisher") -> None:
        self.settings = settings
        self.client_id = client_id
        self.topics: TopicMap = topic_map(settings)
        self.principals = load_principals(settings.policies_dir)
        me = self.principals.named(settings.principal)
        if me is None or me.role not in (Role.PUBLISHER, Role.OPERATOR):
            raise IntelbusError(
                f"{settings.principal} does not publish: connect as a publisher of "
                "policies/principals.yaml (--as publisher-<agency>)"
            )
        self._own = me.acts_for  # None for the operator
        registry = serde.registry_client(settings)
        self._serdes = {
            model: serde.RecordSerializer(registry, model, settings.schemas_dir)
            for model in _TOPIC_ROLE
        }
        self._producer = clients.producer(settings, client_id)

    def encode(self, record: Record) -> Outgoing:
        """Serialize ``record`` against the registered schema; nothing is sent yet."""
        topic = self.topics.of_publisher(
            _TOPIC_ROLE[type(record)], self._publisher_for(record)
        ).name
        return Outgoing(
            topic=topic,
            key=message_key(record).encode(),
            value=self._serdes[type(record)].serialize(record, topic),
            event_id=_event_id(record),
        )

    def _publisher_for(self, record: Record) -> str:
        """Whose topics ``record`` goes to (the broker decides whether this principal may)."""
        if isinstance(record, DisclosureAuthorization):
            # An authorization goes to the approving agency's topic, which only its publisher
            # may write: from anybody else the broker refuses it.
            approvers = [p.id for p in self.principals.approvers]
            if self._own in approvers:
                return self._own
            if len(approvers) != 1:
                raise IntelbusError("publish authorizations as their approver's publisher")
            return approvers[0]
        if self._own is not None:
            return self._own
        claimed = _declared_agency(record)
        publisher = self.principals.publisher_of_agency(claimed) or next(
            (p for p in self.principals.publishers if p.id == claimed), None
        )
        if publisher is None:
            raise IntelbusError(
                f"{_event_id(record)}: no publisher for agency {claimed!r} in principals.yaml"
            )
        return publisher.id

    def publish(self, record: Record) -> Position:
        """Publish one record and wait for the broker's acknowledgement."""
        outgoing = self.encode(record)
        deliveries: list[Message] = []
        failures: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(error)
            else:
                deliveries.append(message)

        produce(
            self._producer, outgoing.topic, outgoing.value, outgoing.key, on_delivery=on_delivery
        )
        self._producer.flush(_ACK_TIMEOUT_S)
        if failures:
            clients.raise_if_refused(failures[0], self.settings, "write", outgoing.topic)
        if failures or not deliveries:
            reason = failures[0] if failures else f"no acknowledgement in {_ACK_TIMEOUT_S:.0f}s"
            raise PublishError(
                f"{outgoing.event_id} was not published to {outgoing.topic}: {reason}"
            )
        return Position.of(deliveries[0])

    def publish_batch(self, batch: Iterable[Outgoing], progress: Progress | None = None) -> int:
        """Publish all of ``batch`` in one transaction; return how many were acknowledged."""
        producer = clients.transactional_producer(
            self.settings, self.client_id, publisher_transactional_id(self.settings)
        )
        try:
            producer.init_transactions(_ACK_TIMEOUT_S)
            producer.begin_transaction()
            count = 0
            for outgoing in batch:
                produce(producer, outgoing.topic, outgoing.value, outgoing.key)
                count += 1
                if progress:
                    progress.advance()
            producer.commit_transaction(_ACK_TIMEOUT_S)
        except KafkaException as error:
            _abort_quietly(producer)
            refused = clients.refusal(error.args[0], self.settings)
            raise PublishError(
                f"nothing was published (transaction aborted): {refused or error}"
            ) from None
        return count


def _abort_quietly(producer: Producer) -> None:
    # If even the abort fails, the broker aborts the transaction when it times out.
    with contextlib.suppress(KafkaException):
        producer.abort_transaction(10)
