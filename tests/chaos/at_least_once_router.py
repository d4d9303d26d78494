"""``python -m tests.chaos.at_least_once_router [ROUTER RUN OPTIONS]``: the router with
exactly once broken on purpose, to show that the fault suite catches it
(tests/test_cluster.py). Run nowhere else.

Its lanes produce without a transaction, so what they send is visible at once, and commit
the consumed offsets afterwards on their own: a router killed in between has delivered and
decided events whose offsets it never committed, and its successor routes them again.
"""

from __future__ import annotations

import sys
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from cli import main
from intelbus import clients
from services.router.lane import Lane

__all__ = ["AtLeastOnce"]


class AtLeastOnce:
    """A producer that takes part in no transaction: begin, commit and abort do nothing
    (everything sent is out already); the offsets are committed by the consumer."""

    def __init__(self, producer: Producer, consumer: Consumer) -> None:
        self._producer = producer
        self._consumer = consumer

    def init_transactions(self, *_: Any) -> None:
        """Nothing to fence: there is no transactional id."""

    def begin_transaction(self) -> None:
        """Nothing to open: every record is visible once sent."""

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], _: Any, timeout: float
    ) -> None:
        self._producer.flush(timeout)
        self._consumer.commit(offsets=offsets, asynchronous=False)

    def commit_transaction(self, timeout: float) -> None:
        self._producer.flush(timeout)

    def abort_transaction(self, *_: Any) -> None:
        """Nothing to take back: what was sent is out (the flaw this router exists for)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)


def _new_producer(lane: Lane) -> AtLeastOnce:
    producer = clients.producer(lane.settings, f"router-{lane.config.name}")
    return AtLeastOnce(producer, lane.consumer)


if __name__ == "__main__":
    Lane._new_producer = _new_producer  # type: ignore[assignment, method-assign]
    sys.exit(main(["router", "run", "--threads", *sys.argv[1:]]))
