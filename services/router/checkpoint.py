"""A lane's open Kafka transaction, after Quix Streams' checkpoint: begun with the first
record, holding the consumed offsets, committed when due with the chain heads it moved.

What one transaction holds: the records produced for each consumed message, one seal per
chain that moved, and each partition's next offset with its chain's head as offset metadata.
A commit either takes all of it or, failing, leaves the caller to abort and rewind; the
chain book moves on only once Kafka has committed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from intelbus.position import Position
from intelbus.producer import produce
from services.router.decisions import ChainBook
from services.router.fanout import Outbound

__all__ = ["TXN_TIMEOUT_S", "Checkpoint", "Retry", "State"]

log = structlog.get_logger()

TXN_TIMEOUT_S = 30.0


class Retry(Exception):
    """Abort the open transaction, rewind to the committed offsets, and try again."""


class State(Protocol):
    """State a transaction moves: kept once Kafka committed it, forgotten on abort."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class Checkpoint:
    """One lane's open transaction over a transactional producer that it recreates when
    the old one fails fatally (``new_producer`` also fences earlier incarnations).

    ``seals`` gives the seal records of the chains that moved, sealed at a given time.
    """

    def __init__(
        self,
        lane: str,
        new_producer: Callable[[], Producer],
        consumer: Consumer,
        chains: ChainBook,
        *,
        seals: Callable[[dt.datetime], list[Outbound]],
        interval_s: float,
        state: tuple[State, ...] = (),
    ) -> None:
        self._new_producer = new_producer
        self._consumer = consumer
        self._chains = chains
        self._state: tuple[State, ...] = (chains, *state)
        self._seals = seals
        self._interval_s = interval_s
        self._log = log.bind(lane=lane)
        self._started: float | None = None
        self._offsets: dict[tuple[str, int], int] = {}
        self.producer = new_producer()

    @property
    def open(self) -> bool:
        return self._started is not None

    def add(self, consumed: Position, records: Iterable[Outbound]) -> None:
        """Produce ``records`` in the transaction (begun if none is open) and count
        ``consumed`` as done: its partition's next offset to commit is the one after it."""
        self._begin()
        self._produce(records)
        self._offsets[(consumed.topic, consumed.partition)] = consumed.offset + 1

    def add_timed(
        self, partition: tuple[str, int], next_offset: int, records: Iterable[Outbound]
    ) -> None:
        """Produce what a timer fired for ``partition`` (nothing consumed): its offset is
        committed where it stands, with the chain head the records moved."""
        self._begin()
        self._produce(records)
        self._offsets.setdefault(partition, next_offset)

    def _begin(self) -> None:
        if self._started is None:
            self.producer.begin_transaction()
            self._started = time.monotonic()

    def _produce(self, records: Iterable[Outbound]) -> None:
        for record in records:
            produce(
                self.producer,
                record.topic,
                record.value,
                record.key,
                headers=record.headers,
                partition=record.partition,
            )

    def remaining(self, idle: float) -> float:
        """Seconds until the open transaction is due (``idle`` when none is open)."""
        if self._started is None:
            return idle
        return max(self._started + self._interval_s - time.monotonic(), 0.0)

    def due(self) -> bool:
        started = self._started
        return started is not None and time.monotonic() - started >= self._interval_s

    def commit(self) -> None:
        """Seal the moved chains and commit the transaction with the consumed offsets;
        raise :class:`Retry` if Kafka would not commit it."""
        self._produce(self._seals(dt.datetime.now(dt.UTC)))
        offsets = [
            TopicPartition(
                topic, partition, offset, metadata=self._chains.metadata(topic, partition)
            )
            for (topic, partition), offset in self._offsets.items()
        ]
        deadline = time.monotonic() + TXN_TIMEOUT_S
        while True:
            try:
                self.producer.send_offsets_to_transaction(
                    offsets, self._consumer.consumer_group_metadata(), TXN_TIMEOUT_S
                )
                self.producer.commit_transaction(TXN_TIMEOUT_S)
                break
            except KafkaException as exception:
                error: KafkaError = exception.args[0]
                if error.retriable() and time.monotonic() < deadline:
                    continue
                if error.fatal():
                    self._log.error("router.producer_fatal", error=str(error))
                    self.producer = self._new_producer()
                raise Retry(f"commit failed: {error}") from None
        for state in self._state:
            state.commit()
        self._reset()

    def abort(self, why: str) -> None:
        """Abort the open transaction (if any) and forget the chain heads it moved."""
        if self._started is not None:
            self._log.warning("router.abort", reason=why)
            try:
                self.producer.abort_transaction(TXN_TIMEOUT_S)
            except KafkaException as exception:
                # Fenced or fatal: a new producer aborts what the old one left open.
                self._log.error("router.abort_failed", error=str(exception))
                self.producer = self._new_producer()
        for state in self._state:
            state.rollback()
        self._reset()

    def _reset(self) -> None:
        self._started = None
        self._offsets.clear()
