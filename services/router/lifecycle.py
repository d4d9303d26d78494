"""What the lookout lane remembers of each event: its originator, its latest version, when it
expires, and what each recipient holds of it. Updates, withdrawals and expiry notices are
decided against it (services/router/fanout.py).

The state lives on the compacted changelog topic (deploy/topics.yaml: lifecycle), keyed by
event id, in the partition of the inbound partition the event arrived on, and is written in
the same Kafka transaction as the deliveries and decisions it reflects: it is exactly as
current as the committed offsets. Inbound lookouts are keyed by event id and every lookouts
topic has as many partitions as the changelog, so under the range assignor the lane that
owns partition p of every publisher's topic owns every version, withdrawal and forgery of
the events in p. What a transaction changed is pending until Kafka committed it
(``commit``) and forgotten on abort (``rollback``), like the chain heads.

Deadlines (each event's expiry, each open hit's answer) are a heap over the restored
state: no timer exists that the changelog does not hold.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from intelbus.position import Position

__all__ = ["EXPIRY", "MAX_STATE_BYTES", "EventState", "Lifecycle"]

EXPIRY = ""  # the deadline of the event itself, not of one of its hits

# A state names at most every recipient: far below this. Bounded before json.loads.
MAX_STATE_BYTES = 64 * 1024


@dataclass(frozen=True)
class EventState:
    """One event as the router last decided it. ``held``: recipient -> what it holds
    (deliver, deliver-redacted, pointer); ``closed``: withdrawn or expired, else None;
    ``hits``: hit id -> {reporter, deadline_ms, status: open, confirmed, declined or
    escalated}."""

    event_id: str
    originator: str
    version: int
    valid_until_ms: int
    source: tuple[str, int, int]  # topic, partition, offset of the latest version
    held: dict[str, str] = field(default_factory=dict)
    closed: str | None = None
    priority: str = "ROUTINE"
    hits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def deadlines(self) -> list[tuple[int, str, str]]:
        """(when, event id, hit id or EXPIRY) of what is still to fire."""
        due = [(self.valid_until_ms, self.event_id, EXPIRY)] if self.closed is None else []
        return due + [
            (hit["deadline_ms"], self.event_id, hit_id)
            for hit_id, hit in self.hits.items()
            if hit["status"] == "open"
        ]

    @property
    def position(self) -> Position:
        return Position(*self.source)

    @property
    def valid_until(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.valid_until_ms / 1000, dt.UTC)

    def encode(self) -> bytes:
        # The fields as they are (JSON copies nothing): asdict's deep copy cost more than
        # the encoding, once per routed event.
        return json.dumps(vars(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes) -> EventState:
        if len(value) > MAX_STATE_BYTES:
            raise ValueError(f"a lifecycle state of {len(value)} bytes (at most {MAX_STATE_BYTES})")
        fields = json.loads(value)
        fields["source"] = tuple(fields["source"])
        return cls(**fields)


def millis(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


class Lifecycle:
    """The states of the partitions this lane owns, and their expiry deadlines."""

    def __init__(self) -> None:
        self._committed: dict[str, EventState] = {}
        self._pending: dict[str, EventState] = {}
        self._deadlines: list[tuple[int, str, str]] = []  # EventState.deadlines, a heap

    def get(self, event_id: str) -> EventState | None:
        return self._pending.get(event_id) or self._committed.get(event_id)

    def put(self, state: EventState) -> None:
        self._pending[state.event_id] = state
        for deadline in state.deadlines():
            heapq.heappush(self._deadlines, deadline)

    def load(self, states: Iterable[EventState]) -> None:
        """Take the changelog's states (later ones replace earlier ones) as committed."""
        for state in states:
            self._committed[state.event_id] = state
        self._deadlines = [d for s in self._committed.values() for d in s.deadlines()]
        heapq.heapify(self._deadlines)

    def drop(self, partitions: set[int]) -> None:
        """Forget the events of partitions this lane no longer owns."""
        self._committed = {
            k: s for k, s in self._committed.items() if s.source[1] not in partitions
        }
        self.load(())

    def due(self, now: dt.datetime) -> list[tuple[str, str]]:
        """(event id, hit id or EXPIRY) of each deadline passed, once: firing it (closing
        the event, escalating the hit) is the caller's, against the event's state then."""
        now_ms, found = millis(now), set()
        while self._deadlines and self._deadlines[0][0] <= now_ms:
            deadline = heapq.heappop(self._deadlines)
            state = self.get(deadline[1])
            # Every put pushes its deadlines again, and an update may move them: fire each
            # one that still stands, once.
            if state is not None and deadline in state.deadlines():
                found.add(deadline)
        return [(event_id, hit_id) for _, event_id, hit_id in sorted(found)]

    def next_deadline(self) -> dt.datetime | None:
        if not self._deadlines:
            return None
        return dt.datetime.fromtimestamp(self._deadlines[0][0] / 1000, dt.UTC)

    def commit(self) -> None:
        self._committed.update(self._pending)
        self._pending.clear()

    def rollback(self) -> None:
        self._pending.clear()
        self.load(())
