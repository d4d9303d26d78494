"""Each normalization rule of intelbus/deconflict/identifiers.py: two spellings of one target
compare equal (a match), a near-miss does not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from intelbus.deconflict.identifiers import Identifier, fold, identifiers, phone
from intelbus.models import Operation, PersonIdentity, Subjects, Vehicle, Vessel


def _ids(**subjects: Any) -> frozenset[Identifier]:
    return identifiers(Subjects.model_validate(subjects))


def _person(**fields: Any) -> frozenset[Identifier]:
    return _ids(persons=[{"givenName": "Jose", "surName": "Perez", **fields}])


def _one(found: frozenset[Identifier], kind: str) -> str:
    (value,) = [i.value for i in found if i.type == kind]
    return value


def test_fold_drops_diacritics_case_and_punctuation() -> None:
    assert fold("  Peña-Nieto,  José ") == fold("PENA NIETO JOSE") == "PENA NIETO JOSE"
    assert fold("Straße") == "STRASSE"


def test_person_name_with_birth_date_ignores_order_case_diacritics_and_middle_name() -> None:
    born = "1980-02-03"
    name = "person.name-birth-date"
    a = _one(_person(givenName="José María", surName="Pérez", birthDate=born), name)
    b = _one(
        _person(givenName="PEREZ", surName="maria jose", middleName="Luis", birthDate=born),
        name,
    )
    assert a == b


def test_person_name_near_misses() -> None:
    """Another birth date, another name, or no birth date at all: no name identifier matches."""
    base = _one(_person(birthDate="1980-02-03"), "person.name-birth-date")
    assert _one(_person(birthDate="1980-02-04"), "person.name-birth-date") != base
    assert _one(_person(surName="Peres", birthDate="1980-02-03"), "person.name-birth-date") != base
    assert not [i for i in _person() if i.type == "person.name-birth-date"]


def test_passport_keeps_its_country_and_drops_separators() -> None:
    a = _one(_person(passportNumber="x12 345-678", passportCountry="MX"), "person.passport")
    b = _one(_person(passportNumber="X12345678", passportCountry="MX"), "person.passport")
    other_country = _one(
        _person(passportNumber="X12345678", passportCountry="GT"), "person.passport"
    )
    no_country = _one(_person(passportNumber="X12345678"), "person.passport")
    assert a == b
    assert len({a, other_country, no_country}) == 3


def test_a_number_is_nine_digits_without_the_a() -> None:
    a = _one(_person(alienNumber="A12345678"), "person.a-number")
    assert a == _one(_person(alienNumber="012345678"), "person.a-number") == "012345678"
    assert _one(_person(alienNumber="A12345679"), "person.a-number") != a


def test_fbi_number_drops_separators_and_case() -> None:
    a = _one(_person(fbiNumber="123456 ab1"), "person.fbi-number")
    assert a == _one(_person(fbiNumber="123456-AB1"), "person.fbi-number")
    assert a != _one(_person(fbiNumber="123456AB2"), "person.fbi-number")


def test_plate_formats_and_lookalike_letters() -> None:
    a = _one(_ids(vehicles=[{"plate": "abc-1O2", "plateJurisdiction": "tx"}]), "vehicle.plate")
    b = _one(_ids(vehicles=[{"plate": "ABC 102", "plateJurisdiction": "TX"}]), "vehicle.plate")
    other_state = _one(
        _ids(vehicles=[{"plate": "ABC102", "plateJurisdiction": "NM"}]), "vehicle.plate"
    )
    assert a == b
    assert other_state != a


def test_vin_match_and_near_miss() -> None:
    vin = "1FTFW1ET5DFC10312"
    a = _one(_ids(vehicles=[{"vin": vin}]), "vehicle.vin")
    assert a == vin
    assert _one(_ids(vehicles=[{"vin": "1FTFW1ET5DFC10313"}]), "vehicle.vin") != a


def test_vessel_name_drops_type_prefix_case_and_diacritics() -> None:
    a = _one(_ids(vessels=[{"name": "M/V Lady Marisol"}]), "vessel.name")
    assert a == _one(_ids(vessels=[{"name": "LADY MARISOL"}]), "vessel.name") == "LADY MARISOL"
    assert _one(_ids(vessels=[{"name": "Lady María Sol"}]), "vessel.name") != a


def test_hull_id_drops_separators_and_us_prefix() -> None:
    a = _one(_ids(vessels=[{"hullId": "US-ABC12345D404"}]), "vessel.hull-id")
    assert a == _one(_ids(vessels=[{"hullId": "abc 12345 d404"}]), "vessel.hull-id")
    assert a != _one(_ids(vessels=[{"hullId": "ABC12345D405"}]), "vessel.hull-id")


def test_imo_prefix_dropped_and_check_digit_required() -> None:
    a = _one(_ids(vessels=[{"imo": "IMO 9074729"}]), "vessel.imo")
    assert a == _one(_ids(vessels=[{"imo": "9074729"}]), "vessel.imo") == "9074729"
    with pytest.raises(ValidationError, match="check digit"):
        Vessel(imo="9074728")


def test_mmsi_is_nine_digits() -> None:
    a = _one(_ids(vessels=[{"mmsi": "366 123 456"}]), "vessel.mmsi")
    assert a == _one(_ids(vessels=[{"mmsi": "366123456"}]), "vessel.mmsi")
    assert a != _one(_ids(vessels=[{"mmsi": "366123457"}]), "vessel.mmsi")
    with pytest.raises(ValidationError, match="9 digits"):
        Vessel(mmsi="36612345")


@pytest.mark.parametrize(
    "written",
    [
        "(956) 555-0142",
        "956.555.0142",
        "+1 956 555 0142",
        "1-956-555-0142",
        "001 956 555 0142",
        "011 1 956 555 0142",
        "956-555-0142 ext. 12",
    ],
)
def test_phone_formats_are_one_e164_number(written: str) -> None:
    assert phone(written) == "+19565550142"


def test_phone_near_misses() -> None:
    assert phone("+52 867 555 0142") != phone("(867) 555-0142")  # Mexico, not the US
    assert phone("555-0142") is None  # a local number: nothing to compare with
    assert not _ids(phones=["12"])


def test_one_subject_yields_every_identifier_type_it_has() -> None:
    found = identifiers(
        Subjects(
            persons=[PersonIdentity(given_name="A", sur_name="B", alien_number="A12345678")],
            vehicles=[Vehicle(plate="X1", vin="1FTFW1ET5DFC10312")],
            vessels=[Vessel(name="Sea", imo="9074729", mmsi="366123456")],
            phones=["9565550142"],
        )
    )
    assert {i.type for i in found} == {
        "person.a-number",
        "vehicle.plate",
        "vehicle.vin",
        "vessel.name",
        "vessel.imo",
        "vessel.mmsi",
        "phone",
    }


def test_operation_place_needs_codes_or_a_circle() -> None:
    base: dict[str, Any] = {
        "operationId": "op-1",
        "issuedAt": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "originator": {"agency": "ICE", "office": "HSI Laredo", "pointOfContact": "SA Ruiz"},
        "windowStart": "2026-01-02T00:00:00Z",
        "windowEnd": "2026-01-03T00:00:00Z",
        "targets": {},
        "handling": {},
    }
    with pytest.raises(ValidationError, match="areaCodes or a point"):
        Operation.model_validate({**base, "place": {}})
    with pytest.raises(ValidationError, match="go together"):
        Operation.model_validate({**base, "place": {"latitude": 27.5, "longitude": -99.5}})
    with pytest.raises(ValidationError, match="windowStart"):
        Operation.model_validate(
            {**base, "place": {"areaCodes": ["LRT"]}, "windowEnd": "2026-01-01T00:00:00Z"}
        )
    assert Operation.model_validate({**base, "place": {"areaCodes": ["LRT"]}}).place.area_codes
