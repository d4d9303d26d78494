"""Running the router in a test, and waiting for it to finish a workload."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from confluent_kafka import TopicPartition

from intelbus import clients, serde
from intelbus.models import PolicyDecision
from intelbus.settings import Settings
from intelbus.topic_reader import committed_ends
from intelbus.waiting import wait_for
from services.router.service import Router
from tests.kafka_helpers import read_all, value_of

__all__ = [
    "decisions_of",
    "feed_of",
    "routed_everything",
    "running_router",
    "wait_until_routed",
]


def routed_everything(settings: Settings, lane: str, topic: str) -> bool:
    """Has the router's lane committed offsets up to the end of every partition of ``topic``?"""
    ends = committed_ends(settings, topic)
    consumer = clients.consumer(settings, f"{settings.router_group}.{lane}", "test-progress")
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
    finally:
        consumer.close()
    return all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in committed)


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


def wait_until_routed(settings: Settings, *topics_by_lane: tuple[str, str]) -> None:
    for lane, topic in topics_by_lane:
        wait_for(
            lambda lane=lane, topic=topic: routed_everything(settings, lane, topic),  # type: ignore[misc]
            timeout=120,
            what=f"the {lane} lane to route everything in {topic}",
            interval=0.2,
        )


def decisions_of(settings: Settings, topic: str) -> list[PolicyDecision]:
    """Every decision record (seals left out) of the decisions topic."""
    from consumers.audit.log import read_decision_log  # noqa: PLC0415

    return [e.decision for e in read_decision_log(settings, topic) if e.decision is not None]


def feed_of(settings: Settings, topic: str, expected: int) -> dict[str, list[dict[str, Any]]]:
    """A feed's messages by event id: decision header, rules, removed fields and the value."""
    client = serde.registry_client(settings)
    names = serde.SchemaNames(client)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for message in read_all(settings, topic, expected):
        value = value_of(message)
        headers = {k: (v or b"").decode() for k, v in message.headers() or []}
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
