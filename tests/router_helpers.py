"""Running the router in a test, and waiting for it to finish a workload."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from consumers.feed import header_map
from intelbus import serde
from intelbus.models import PolicyDecision
from intelbus.settings import Settings
from services.router.service import Router
from tests.kafka_helpers import read_all, value_of

__all__ = [
    "decisions_of",
    "feed_of",
    "running_router",
]


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


def decisions_of(settings: Settings, topic: str) -> list[PolicyDecision]:
    """Every decision record (seals left out) of the decisions topic."""
    from consumers.audit.log import read_decision_log  # noqa: PLC0415

    return [e.decision for e in read_decision_log(settings, topic) if e.decision is not None]


def feed_of(
    settings: Settings, topics: list[str], expected: int
) -> dict[str, list[dict[str, Any]]]:
    """A feed's messages by event id: decision header, rules, removed fields and the value."""
    client = serde.registry_client(settings)
    names = serde.SchemaNames(client)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for message in read_all(settings, topics, expected):
        value = value_of(message)
        headers = header_map(message)
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
