"""Read topics from the beginning to where they end now, once: read_committed (what every
reader of the bus sees) or, for a checker looking for aborted records, read_uncommitted."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import OffsetSpec

from intelbus import clients
from intelbus.errors import IntelbusError
from intelbus.names import reader_group
from intelbus.settings import Settings
from intelbus.waiting import wait_for

__all__ = ["EndTracker", "Partition", "committed_ends", "read_to_end"]

_TIMEOUT_S = 30
# A partition without a leader yet (new topic) or whose leader just changed: ask again.
_LEADER_MOVING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}

Partition = tuple[str, int]


def committed_ends(
    settings: Settings,
    topics: Sequence[str],
    isolation: IsolationLevel = IsolationLevel.READ_COMMITTED,
) -> dict[Partition, int]:
    """The last stable offset of every partition: what a read_committed reader can reach
    (with READ_UNCOMMITTED, the high watermark)."""
    admin = clients.admin(settings)
    wanted: dict[TopicPartition, OffsetSpec] = {}
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    for topic in topics:
        metadata = admin.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
        if (
            metadata is not None
            and metadata.error is not None
            and metadata.error.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED,)
        ):
            raise clients.not_authorized(settings, "read", topic)
        if metadata is None or metadata.error is not None:
            raise IntelbusError(f"topic {topic} does not exist (run `intelbus topics apply`)")
        wanted.update({TopicPartition(topic, p): latest for p in metadata.partitions})

    def ends() -> dict[Partition, int] | None:
        futures = admin.list_offsets(wanted, isolation_level=isolation, request_timeout=_TIMEOUT_S)
        try:
            return {
                (tp.topic, tp.partition): future.result(timeout=_TIMEOUT_S).offset
                for tp, future in futures.items()
            }
        except KafkaException as exception:
            if exception.args[0].code() in _LEADER_MOVING:
                return None
            raise

    return wait_for(ends, timeout=_TIMEOUT_S, what=f"the end offsets of {', '.join(topics)}")


class EndTracker:
    """Tells when a reader has passed the given end offset of every partition."""

    def __init__(self, ends: dict[Partition, int]) -> None:
        self.ends = ends
        self.pending = {key for key, end in ends.items() if end > 0}

    @property
    def done(self) -> bool:
        return not self.pending

    def seen(self, message: Message) -> bool:
        """Record a message; False if it lies beyond the end (arrived after the start)."""
        key = (message.topic() or "", message.partition() or 0)
        offset = message.offset() or 0
        if key not in self.ends or offset >= self.ends[key]:
            return False
        if offset + 1 >= self.ends[key]:
            self.pending.discard(key)
        return True

    def check_positions(self, consumer: Consumer) -> None:
        """Control records (transaction markers) take offsets but are never delivered: a
        partition is also done once the reader's position has passed its end. A group
        consumer that has read nothing yet stands at its committed offset, else (like a
        reader from the beginning) at the partition's first offset: past the end when
        every record was deleted (DeleteRecords), so nothing is left to wait for."""
        positions = consumer.position([TopicPartition(t, p) for t, p in self.pending])
        unknown = [tp for tp in positions if tp.offset < 0]
        if unknown:
            positions = [tp for tp in positions if tp.offset >= 0]
            for tp in clients.committed(consumer, unknown, timeout=_TIMEOUT_S):
                if tp.offset < 0:
                    tp.offset, _ = consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S)
                positions.append(tp)
        for tp in positions:
            if tp.offset >= self.ends[(tp.topic, tp.partition)]:
                self.pending.discard((tp.topic, tp.partition))


def read_to_end(
    settings: Settings,
    topics: str | Sequence[str],
    on_message: Callable[[int], None] | None = None,
    isolation: IsolationLevel = IsolationLevel.READ_COMMITTED,
) -> Iterator[Message]:
    """Every committed message of ``topics`` up to their ends at the time of the call (with
    READ_UNCOMMITTED, every message, aborted ones included)."""
    names = [topics] if isinstance(topics, str) else list(topics)
    tracker = EndTracker(committed_ends(settings, names, isolation))
    level = "read_committed" if isolation == IsolationLevel.READ_COMMITTED else "read_uncommitted"
    consumer = clients.consumer(
        settings, reader_group(settings, "to-end"), "intelbus-reader", **{"isolation.level": level}
    )
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in tracker.pending])
    try:
        while not tracker.done:
            batch = consumer.consume(1000, 1.0)
            for message in batch:
                error = message.error()
                if error is not None:
                    raise IntelbusError(f"reading {message.topic()}: {error}")
                if tracker.seen(message):
                    yield message
                    if on_message:
                        on_message(1)
            if not batch:
                # Only once nothing more comes: asking for positions costs a round trip
                # per partition not fetched yet, seconds over a topic's many partitions.
                tracker.check_positions(consumer)
    finally:
        consumer.close()
