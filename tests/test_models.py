"""Validation the schemas cannot express: countries, zones, time order, identifiers, ranges."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from intelbus.models import (
    AuthorizationKind,
    Decision,
    DeclaredPurpose,
    DisclosureAuthorization,
    EventKind,
    Location,
    Lookout,
    PersonIdentity,
    PolicyDecision,
    Record,
    Subjects,
    Vehicle,
)
from tests import factories
from tests.avro_helpers import fastavro_round_trip
from tests.policy_fixtures import safeguards


def _error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in error.errors()}


def test_unknown_country_code_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        PersonIdentity(given_name="A", sur_name="B", citizenship_country="XX")
    assert _error_fields(caught.value) == {"citizenship_country"}
    assert "ISO 3166-1 alpha-2" in str(caught.value)


def test_timestamps_need_a_zone() -> None:
    with pytest.raises(ValidationError) as caught:
        factories.lookout(issued_at=dt.datetime(2026, 11, 23, 12, 0))
    assert _error_fields(caught.value) == {"issued_at"}


def test_valid_until_must_follow_issue() -> None:
    with pytest.raises(ValidationError) as caught:
        factories.lookout(valid_until=factories.NOW - dt.timedelta(seconds=1))
    assert _error_fields(caught.value) == {"valid_until"}
    assert "must be after issuedAt" in str(caught.value)


def test_alert_window_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError) as caught:
        factories.alert(window_end=factories.NOW)
    assert _error_fields(caught.value) == {"window_end"}


@pytest.mark.parametrize("event_id", ["", "   "])
def test_identifiers_are_not_empty(event_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        factories.lookout(event_id=event_id)
    assert _error_fields(caught.value) == {"event_id"}


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"latitude": 90.5, "longitude": 0.0}, "latitude"),
        ({"latitude": 0.0, "longitude": -180.1}, "longitude"),
    ],
)
def test_coordinates_in_range(fields: dict[str, Any], bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Location(place_name="x", area_code="LRT", **fields)
    assert _error_fields(caught.value) == {bad}


def test_coordinates_come_in_pairs() -> None:
    with pytest.raises(ValidationError, match="latitude and longitude go together"):
        Location(place_name="x", area_code="LRT", latitude=27.5)


def test_alien_number_and_vin_formats() -> None:
    with pytest.raises(ValidationError) as caught:
        PersonIdentity(given_name="A", sur_name="B", alien_number="A12")
    assert _error_fields(caught.value) == {"alien_number"}
    with pytest.raises(ValidationError) as caught:
        Vehicle(vin="1HGCM82633A00435O")  # the letter O is never used in a VIN
    assert _error_fields(caught.value) == {"vin"}
    assert Vehicle(vin="1HGCM82633A004352").key == "vehicle:vin:1HGCM82633A004352"


def test_authorization_needs_event_or_case() -> None:
    with pytest.raises(ValidationError, match="eventId or a caseReference"):
        DisclosureAuthorization(
            authorization_id="a",
            kind=AuthorizationKind.DISCLOSURE,
            recipient="ice",
            purpose=DeclaredPurpose.TERRORISM,
            approving_office="CBP OFO",
            safeguards=safeguards(),
            granted_at=factories.NOW,
            valid_from=factories.NOW,
            valid_until=factories.NOW + dt.timedelta(days=1),
        )


def test_wire_names_and_python_names_both_accepted() -> None:
    """JSON input uses the schema's camelCase names; Python code may use snake_case."""
    record = factories.lookout()
    assert Lookout.model_validate(record.to_avro()) == record
    assert Lookout.model_validate(record.model_dump()) == record


def test_times_are_normalised_to_utc_milliseconds() -> None:
    """Avro keeps UTC milliseconds; the model does the same, so a round trip is exact."""
    eastern = dt.timezone(dt.timedelta(hours=-5))
    record = factories.lookout(issued_at=dt.datetime(2026, 11, 23, 7, 0, 0, 123456, eastern))
    assert record.issued_at == dt.datetime(2026, 11, 23, 12, 0, 0, 123000, dt.UTC)
    assert record.issued_at.tzinfo == dt.UTC


@settings(max_examples=200, deadline=None)
@given(
    given_name=st.text(min_size=1, max_size=30).filter(str.strip),
    issued=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2090, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    lifetime=st.timedeltas(min_value=dt.timedelta(seconds=1), max_value=dt.timedelta(days=3650)),
)
def test_model_avro_round_trip_property(
    given_name: str, issued: dt.datetime, lifetime: dt.timedelta
) -> None:
    """Any valid lookout survives model -> Avro -> model unchanged."""
    record = factories.lookout(
        issued_at=issued,
        valid_until=issued + lifetime + dt.timedelta(milliseconds=1),
        subjects=Subjects(persons=[PersonIdentity(given_name=given_name, sur_name="Doe")]),
    )
    assert fastavro_round_trip(record) == record


def _decision(**overrides: Any) -> PolicyDecision:
    fields: dict[str, Any] = {
        "decision_id": "d",
        "event_id": "e",
        "event_version": 1,
        "event_kind": EventKind.LOOKOUT,
        "recipient": "ice",
        "decision": Decision.DELIVER,
        "rules": [],
        "removed_fields": [],
        "authorization_ids": [],
        "onward_transfer": False,
        "carried_eu_pnr": False,
        "delivered_eu_pnr": False,
        "notifications": [],
        "reason": "r",
        "policy_version": "v",
        "decided_at": factories.NOW,
        "source_topic": "t",
        "source_partition": 0,
        "source_offset": 0,
        "chain": "c",
        "sequence": 0,
        "previous_hash": "h",
        "hash": "h",
    }
    return PolicyDecision(**(fields | overrides))


@pytest.mark.parametrize(
    ("build", "field", "value"),
    [
        (factories.lookout, "version", 2**31),
        (factories.lookout, "version", 0),
        (factories.alert, "version", 2**31),
        (_decision, "event_version", 2**31),
        (_decision, "source_partition", 2**31),
        (_decision, "source_partition", -(2**31) - 1),
        (_decision, "source_offset", 2**63),
        (_decision, "sequence", 2**63),
        (_decision, "sequence", -1),
    ],
)
def test_avro_integer_ranges_are_enforced(
    build: Callable[..., Record], field: str, value: int
) -> None:
    """An Avro int holds -2^31..2^31-1 and a long -2^63..2^63-1: a value beyond its field's
    range is refused by the model, naming the field, instead of failing at encoding; the
    fields' own bounds (a version from 1, a sequence from 0) still hold."""
    with pytest.raises(ValidationError) as caught:
        build(**{field: value})
    assert _error_fields(caught.value) == {field}


def test_avro_integer_range_edges_are_accepted() -> None:
    """The largest Avro int is a valid version, and it encodes."""
    record = factories.lookout(version=2**31 - 1)
    assert fastavro_round_trip(record) == record


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["latitude", "longitude"])
def test_coordinates_are_numbers(field: str, value: float) -> None:
    """NaN and infinities are refused as not numbers (NaN used to get "should be <= 90")."""
    coordinates = {"latitude": 0.0, "longitude": 0.0} | {field: value}
    with pytest.raises(ValidationError) as caught:
        Location(place_name="x", area_code="LRT", **coordinates)
    assert _error_fields(caught.value) == {field}
    [error] = caught.value.errors()
    assert error["msg"] == "Input should be a finite number"
