"""Running the router in a test, and waiting for it to finish a workload."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Message, TopicPartition

from intelbus import clients, serde
from intelbus.models import PolicyDecision
from intelbus.settings import Settings
from intelbus.topic_reader import read_to_end
from intelbus.waiting import wait_for
from services.router.service import Router
from tests.kafka_helpers import read_all, value_of

__all__ = [
    "decisions_of",
    "feed_of",
    "headers_of",
    "routed_fraction",
    "running_router",
    "wait_until_routed",
]


def _targets(settings: Settings, topic: str) -> dict[int, int]:
    """Per partition, the offset a consumer commits once it has processed every event
    (the last event's offset + 1; a transaction marker after it is never consumed)."""
    targets: dict[int, int] = {}
    for message in read_to_end(settings, topic):
        targets[message.partition() or 0] = (message.offset() or 0) + 1
    return targets


def _committed(settings: Settings, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    consumer = clients.consumer(settings, group, "test-progress")
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found}


def routed_fraction(settings: Settings, lane: str, topic: str, targets: dict[int, int]) -> float:
    """The share of ``topic``'s events whose processing the router's lane has committed."""
    committed = _committed(settings, f"{settings.router_group}.{lane}", topic, list(targets))
    done = sum(max(0, min(committed[p], end)) for p, end in targets.items())
    return done / max(sum(targets.values()), 1)


@contextlib.contextmanager
def running_router(settings: Settings) -> Iterator[Router]:
    """A router on its own thread; on exit it is stopped and must have exited cleanly."""
    router = Router(settings)
    outcome: dict[str, int] = {}
    thread = threading.Thread(
        target=lambda: outcome.setdefault("exit", router.run(handle_signals=False)), daemon=True
    )
    thread.start()
    try:
        yield router
    finally:
        router.stop.set()
        thread.join(60)
    assert outcome.get("exit") == 0, f"router failed: {router.failures}"


def wait_until_routed(
    settings: Settings, *topics_by_lane: tuple[str, str], timeout: float = 120
) -> None:
    """Wait until each lane has committed every event now in its topic."""
    for lane, topic in topics_by_lane:
        targets = _targets(settings, topic)
        wait_for(
            lambda lane=lane, topic=topic, targets=targets: (  # type: ignore[misc]
                routed_fraction(settings, lane, topic, targets) >= 1.0
            ),
            timeout=timeout,
            what=f"the {lane} lane to route everything in {topic}",
            interval=0.2,
        )


def decisions_of(settings: Settings, topic: str) -> list[PolicyDecision]:
    """Every decision record (seals left out) of the decisions topic."""
    from consumers.audit.log import read_decision_log  # noqa: PLC0415

    return [e.decision for e in read_decision_log(settings, topic) if e.decision is not None]


def headers_of(message: Message) -> dict[str, str]:
    raw = message.headers() or []
    items = raw.items() if isinstance(raw, dict) else raw
    return {
        key: value.decode() if isinstance(value, bytes) else (value or "") for key, value in items
    }


def feed_of(settings: Settings, topic: str, expected: int) -> dict[str, list[dict[str, Any]]]:
    """A feed's messages by event id: decision header, rules, removed fields and the value."""
    client = serde.registry_client(settings)
    names = serde.SchemaNames(client)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for message in read_all(settings, topic, expected):
        value = value_of(message)
        headers = headers_of(message)
        schema_id = serde.schema_id_of(value)
        assert schema_id is not None
        by_event.setdefault(headers["intelbus.event-id"], []).append(
            {
                "decision": headers["intelbus.decision"],
                "rules": headers["intelbus.rules"].split(",") if headers["intelbus.rules"] else [],
                "removed": headers["intelbus.removed"].split(",")
                if headers["intelbus.removed"]
                else [],
                "type": names.of(schema_id),
                "bytes": value,
            }
        )
    return by_event
