"""Operations and subjects for the deconfliction tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from intelbus.models import (
    DeconflictionCheck,
    DeconflictionNotice,
    Handling,
    Marking,
    Operation,
    OperationPlace,
    Subjects,
    Vessel,
)
from intelbus.names import topic_map
from intelbus.reader import ContractReader
from intelbus.settings import Settings
from services.deconflict.service import Deconflictor
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


def notices_of(settings: Settings, expected: int, timeout: float = 60) -> list[DeconflictionNotice]:
    """Every committed notice the service wrote (the questions it forwarded left out)."""
    reader = ContractReader.connect(settings, [DeconflictionNotice, DeconflictionCheck])
    topic = topic_map(settings).deconflict_notices
    found = []
    for message in read_all(settings, topic, expected, timeout):
        record = reader.read(value_of(message)).record
        if isinstance(record, DeconflictionNotice):
            found.append(record)
    return found
