"""Keep the store up to date from the decisions and dead-letter topics.

The follower reads as the reviewer (read_committed), assigns every partition itself and
seeks to the offsets the store holds: Kafka keeps no position for it. Each batch of rows is
written with the offsets after it in one SQLite transaction, so a crash at any point leaves
the store at the end of a whole batch, and the next start resumes exactly there: no row is
lost and none stored twice (the (topic, partition, offset) of a row is also unique)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from consumers.console_store.store import DeadLetter, Other, Partition, Store
from intelbus import clients
from intelbus.errors import IntelbusError
from intelbus.headers import DeadLetterHeaders, header_map
from intelbus.models import ChainSeal, KeyRotation, PolicyDecision
from intelbus.names import reader_group, topic_map
from intelbus.position import Position
from intelbus.reader import ContractReader, Rejected
from intelbus.settings import Settings
from intelbus.topic_reader import EndTracker, committed_ends

__all__ = ["Follower"]

_TIMEOUT_S = 30
_HEADER_CHARS = 200  # a dead letter's reason and source as stored: bounded, they are untrusted


class Follower:
    """Copies new records into ``store``; ``batch`` records at most per transaction."""

    def __init__(self, settings: Settings, store: Store, batch: int = 1000) -> None:
        topics = topic_map(settings)
        self.settings = settings
        self.store = store
        self.batch = batch
        self.decisions_topic = topics.decisions
        self.dead_letter_topic = topics.dead_letter
        self.topics = [self.decisions_topic, self.dead_letter_topic]
        self.stored = 0  # records stored by this follower
        self._reader = ContractReader.connect(settings, (PolicyDecision, ChainSeal, KeyRotation))

    def _consumer(self) -> Consumer:
        consumer = clients.consumer(
            self.settings, reader_group(self.settings, "console"), "intelbus-console"
        )
        stored = self.store.offsets()
        assignment = []
        for topic in self.topics:
            metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
            if metadata is None or metadata.error is not None:
                consumer.close()
                if metadata is not None:
                    clients.raise_if_refused(metadata.error, self.settings, "read", topic)
                raise IntelbusError(f"cannot read {topic}: {metadata and metadata.error}")
            for partition in metadata.partitions:
                offset = stored.get((topic, partition), OFFSET_BEGINNING)
                assignment.append(TopicPartition(topic, partition, offset))
        consumer.assign(assignment)
        return consumer

    def _store(self, messages: list[Message]) -> None:
        decisions: list[tuple[Position, PolicyDecision]] = []
        dead: list[DeadLetter] = []
        others: list[Other] = []
        ends: dict[Partition, int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                clients.raise_if_refused(error, self.settings, "read", message.topic() or "")
                raise IntelbusError(f"reading {message.topic()}: {error}")
            position = Position.of(message)
            ends[(position.topic, position.partition)] = position.offset + 1
            if position.topic == self.dead_letter_topic:
                headers = DeadLetterHeaders.decode(header_map(message))
                dead.append(
                    DeadLetter(
                        position,
                        message.timestamp()[1],
                        headers.reason[:_HEADER_CHARS],
                        headers.source[:_HEADER_CHARS],
                    )
                )
                continue
            try:
                record = self._reader.read(message.value()).record
            except Rejected as rejected:
                others.append(Other(position, "unreadable", str(rejected)[:_HEADER_CHARS]))
                continue
            if isinstance(record, PolicyDecision):
                decisions.append((position, record))
            elif isinstance(record, ChainSeal):
                others.append(Other(position, "seal", f"{record.chain}#{record.sequence}"))
            else:
                assert isinstance(record, KeyRotation)
                others.append(Other(position, "rotation", record.key_id))
        if ends:
            self.store.write(decisions, dead, others, ends)
            self.stored += len(messages)

    def catch_up(self, on_batch: Callable[[int], None] | None = None) -> int:
        """Store everything committed up to now; the number of records stored."""
        tracker = EndTracker(committed_ends(self.settings, self.topics))
        consumer = self._consumer()
        try:
            while not tracker.done:
                messages = consumer.consume(self.batch, 1.0)
                self._store(messages)
                for message in messages:
                    if message.error() is None:
                        tracker.seen(message)
                if on_batch and messages:
                    on_batch(len(messages))
                if not messages:  # only transaction markers can be left: ask where we are
                    tracker.check_positions(consumer)
        finally:
            consumer.close()
        self.store.analyze()
        return self.stored

    def follow(self, stop: threading.Event, caught_up: threading.Event | None = None) -> None:
        """Store new records as they are committed, until ``stop`` is set."""
        self.catch_up()
        if caught_up is not None:
            caught_up.set()
        consumer = self._consumer()
        try:
            while not stop.is_set():
                self._store(consumer.consume(self.batch, 0.5))
        finally:
            consumer.close()
