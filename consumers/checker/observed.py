"""What the checker reads from a bus: every committed record of its inbound topics, its
decision log, its dead letter and every recipient's deliveries, and how many records the
output topics hold that a read_committed reader never sees (aborted transactions).

Only the decision log is decoded (the chains are verified from it); inbound records are
counted by position and deliveries read by their headers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import IsolationLevel

from consumers.audit.log import Entry, read_decision_log
from intelbus.headers import DeadLetterHeaders, DeliveryHeaders, header_map
from intelbus.names import topic_map
from intelbus.position import Position
from intelbus.settings import Settings
from intelbus.topic_reader import Partition, read_to_end

__all__ = ["DeadLetter", "Delivery", "Observed", "observe"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message on a recipient's feed or alerts topic."""

    position: Position
    event_id: str
    decision_id: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    position: Position
    source: str  # the inbound position it came from, as Position's text
    reason: str


@dataclass
class Observed:
    inbound: list[Position] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    deliveries: dict[str, list[Delivery]] = field(default_factory=dict)  # by recipient
    dead_letters: list[DeadLetter] = field(default_factory=list)
    aborted: int = 0  # records only a read_uncommitted reader sees

    @property
    def records(self) -> int:
        return (
            len(self.inbound)
            + len(self.entries)
            + sum(map(len, self.deliveries.values()))
            + len(self.dead_letters)
        )


def observe(settings: Settings, recipients: Sequence[str], publishers: Sequence[str]) -> Observed:
    """Read the bus of ``settings`` (its topic prefix) once, read_committed; then once more
    read_uncommitted, to count the records of aborted transactions."""
    topics = topic_map(settings)
    inbound = [
        topics.of_publisher(role, publisher).name
        for publisher in publishers
        for role in ("lookouts", "officer_safety")
    ]
    recipient_of = {topic: r for r in recipients for topic in topics.deliveries(r)}
    seen = Observed(deliveries={recipient: [] for recipient in recipients})
    counts: Counter[Partition] = Counter()
    for message in read_to_end(settings, [*inbound, *recipient_of, topics.dead_letter]):
        position = Position.of(message)
        counts[(position.topic, position.partition)] += 1
        if position.topic in recipient_of:
            headers = DeliveryHeaders.decode(header_map(message))
            seen.deliveries[recipient_of[position.topic]].append(
                Delivery(position, headers.event_id, headers.decision_id)
            )
        elif position.topic == topics.dead_letter:
            why = DeadLetterHeaders.decode(header_map(message))
            seen.dead_letters.append(DeadLetter(position, why.source, why.reason))
        else:
            seen.inbound.append(position)
    seen.entries = list(read_decision_log(settings, topics.decisions))
    counts.update((e.position.topic, e.position.partition) for e in seen.entries)
    everything = [*inbound, *recipient_of, topics.dead_letter, topics.decisions]
    uncommitted: Counter[Partition] = Counter(
        (m.topic() or "", m.partition() or 0)
        for m in read_to_end(settings, everything, isolation=IsolationLevel.READ_UNCOMMITTED)
    )
    seen.aborted = sum((uncommitted - counts).values())
    return seen
