"""Operations and subjects for the deconfliction tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from intelbus.models import Handling, Marking, Operation, OperationPlace, Subjects, Vessel
from tests.factories import NOW, originator

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
