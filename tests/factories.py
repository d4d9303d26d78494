"""Valid events for tests; override any field by keyword."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from intelbus.models import (
    Category,
    Component,
    DeclaredPurpose,
    Handling,
    Location,
    Lookout,
    Marking,
    OfficerSafetyAlert,
    Originator,
    PersonIdentity,
    Subjects,
    ThreatLevel,
)

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def originator(**overrides: Any) -> Originator:
    fields: dict[str, Any] = {
        "agency": "CBP",
        "component": Component.NTC,
        "office": "National Targeting Center",
        "point_of_contact": "NTC watch officer, +1 571 555 0100",
    }
    return Originator(**(fields | overrides))


def lookout(**overrides: Any) -> Lookout:
    fields: dict[str, Any] = {
        "event_id": f"lk-{uuid.uuid4()}",
        "issued_at": NOW,
        "valid_until": NOW + dt.timedelta(days=30),
        "originator": originator(),
        "category": Category.BE_ON_LOOKOUT,
        "declared_purpose": DeclaredPurpose.SERIOUS_TRANSNATIONAL_CRIME,
        "subjects": Subjects(
            persons=[PersonIdentity(given_name="Ana", sur_name="Ruiz", citizenship_country="MX")]
        ),
        "narrative": "Suspected courier for a smuggling organization; refer to secondary.",
        "areas": ["LRT"],
        "handling": Handling(markings=[Marking.LES]),
    }
    return Lookout(**(fields | overrides))


def alert(**overrides: Any) -> OfficerSafetyAlert:
    fields: dict[str, Any] = {
        "event_id": f"os-{uuid.uuid4()}",
        "issued_at": NOW,
        "window_start": NOW,
        "window_end": NOW + dt.timedelta(hours=12),
        "originator": originator(agency="ICE", component=Component.HSI, office="HSI Laredo"),
        "threat_level": ThreatLevel.HIGH,
        "location": Location(
            latitude=27.6, longitude=-99.6, place_name="Rio Grande near Laredo", area_code="LRT"
        ),
        "subjects": Subjects(),
        "narrative": "Undercover operation in progress; armed subjects expected at the river.",
        "handling": Handling(markings=[Marking.LES]),
    }
    return OfficerSafetyAlert(**(fields | overrides))
