"""Operations and subjects for the deconfliction tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import TopicPartition

from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.models import (
    DeconflictionNotice,
    Handling,
    Marking,
    Operation,
    OperationPlace,
    Subjects,
    Vessel,
)
from intelbus.names import deconflict_group, topic_map
from intelbus.reader import ContractReader
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from services.deconflict.service import Deconflictor
from services.router.progress import routing_targets
from tests.factories import NOW, originator
from tests.kafka_helpers import read_all, value_of

LADY_MARISOL = Subjects(vessels=[Vessel(name="LADY MARISOL", hull_id="FL4471MX")])


def operation(**overrides: Any) -> Operation:
    fields: dict[str, Any] = {
        "operation_id": f"op-{uuid.uuid4()}",
        "issued_at": NOW,
        "originator": originator(agency="ICE", point_of_contact="SA Ortega, HSI Laredo"),
        "place": OperationPlace(area_codes=["LRT"]),
        "window_start": NOW + dt.timedelta(hours=1),
        "window_end": NOW + dt.timedelta(hours=9),
        "targets": Subjects(),
        "handling": Handling(markings=[Marking.LES]),
    }
    return Operation(**(fields | overrides))


@contextlib.contextmanager
def running_deconflictor(settings: Settings) -> Iterator[Deconflictor]:
    """The deconfliction service on its own thread; on exit it is stopped and joined."""
    service = Deconflictor(settings)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            service.run()
        except BaseException as error:
            failures.append(error)
            raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop.set()
        thread.join(60)
    assert not failures, f"the deconfliction service failed: {failures}"


def inbound_topics(settings: Settings) -> list[str]:
    topics, principals = topic_map(settings), load_principals(settings.policies_dir)
    return [
        topic
        for p in principals.publishers
        for topic in (topics.lookouts(p.id), topics.operations(p.id))
    ]


def wait_until_deconflicted(
    settings: Settings, timeout: float = 120, alive: Callable[[], bool] = lambda: True
) -> None:
    """Wait until the service has committed every message now in the inbound topics (and
    fail at once when ``alive`` says the service is gone)."""
    targets = {
        (topic, partition): end
        for topic in inbound_topics(settings)
        for partition, end in routing_targets(settings, topic).items()
    }
    probe = clients.consumer(settings, deconflict_group(settings), "test-deconflict-progress")
    partitions = [TopicPartition(t, p) for t, p in targets]

    def done() -> bool:
        assert alive(), "the deconfliction service exited"
        committed = clients.committed(probe, partitions)
        return all(tp.offset >= targets[(tp.topic, tp.partition)] for tp in committed)

    try:
        wait_for(done, timeout=timeout, what="the deconfliction service to read everything")
    finally:
        probe.close()


def notices_of(settings: Settings, expected: int, timeout: float = 60) -> list[DeconflictionNotice]:
    """Every committed notice the service wrote."""
    reader = ContractReader.connect(settings, [DeconflictionNotice])
    topic = topic_map(settings).deconflict_notices
    found = []
    for message in read_all(settings, topic, expected, timeout):
        record = reader.read(value_of(message)).record
        assert isinstance(record, DeconflictionNotice)
        found.append(record)
    return found
