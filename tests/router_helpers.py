"""Running the router in a test, and waiting for it to finish a workload."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from consumers.feed import FEED_RECORDS
from intelbus.headers import DeliveryHeaders, header_map
from intelbus.models import PolicyDecision
from intelbus.reader import ContractReader
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
    settings: Settings, topics: list[str], expected: int, timeout: float = 60.0
) -> dict[str, list[dict[str, Any]]]:
    """A feed's messages by event id: decision header, rules, removed fields, the record
    type, the decoded record and the bytes."""
    reader = ContractReader.connect(settings, FEED_RECORDS)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for message in read_all(settings, topics, expected, timeout):
        value = value_of(message)
        headers = DeliveryHeaders.decode(header_map(message))
        record = reader.read(value).record
        by_event.setdefault(headers.event_id, []).append(
            {
                "decision": headers.decision,
                "rules": list(headers.rules),
                "removed": list(headers.removed),
                "type": record.avro_name,
                "record": record,
                "bytes": value,
            }
        )
    return by_event
