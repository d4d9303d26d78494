"""Target identifiers, normalized so that two agencies' spellings of one target compare equal.

Pure functions, no Kafka. Each rule (docs/deconfliction.md lists them, a test proves each):

- text (names of persons and vessels): Unicode compatibility-decomposed, diacritics dropped
  (``Peña`` = ``PENA``), case folded, every run of punctuation and spaces one space;
- person name: only with a birth date (a name alone is too common to tell two agencies they
  work one person); the tokens of given and family names sorted, so the order of names and
  ``Perez, Jose`` vs ``Jose Perez`` do not matter; middle names are left out (one agency
  often lacks them); hyphenated and compound names split into tokens;
- passport: letters and digits only, upper case, with its issuing country (the same number
  in two countries is two passports); a passport without a country matches none other;
- A-number: digits only, without the ``A``, zero-padded to 9 (``A12345678`` = ``A012345678``);
- FBI number (UCN): letters and digits only, upper case;
- plate: letters and digits only, upper case, with its state; the letter O is read as the
  digit 0 and I as 1 (plate readers and officers mistake them, most states issue one form);
- VIN: letters and digits only, upper case (the contract already refuses I, O, Q);
- vessel name: the text rule, and a leading type prefix (M/V, MV, F/V, S/V, M/Y) dropped;
- hull id: letters and digits only, upper case, a leading ``US`` country code dropped from a
  14-character HIN;
- IMO: the 7 digits, ``IMO`` prefix dropped, only with a valid check digit;
- MMSI: the 9 digits;
- phone: E.164; ``00`` or ``011`` international prefixes become ``+``; 10 digits, or 11
  starting with 1, are North American (+1); separators, spaces, dots, parentheses and an
  extension (``x123``, ``ext. 123``) dropped; fewer than 7 digits is no phone number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from intelbus.models import PersonIdentity, Subjects, Vehicle, Vessel
from intelbus.models.records import imo_digits

__all__ = [
    "IDENTIFIER_TYPES",
    "Identifier",
    "fold",
    "identifiers",
    "phone",
    "plate",
]

# Most specific first: a notice names the most specific type two entries share.
IDENTIFIER_TYPES = (
    "person.a-number",
    "person.fbi-number",
    "person.passport",
    "vehicle.vin",
    "vessel.imo",
    "vessel.mmsi",
    "vessel.hull-id",
    "vehicle.plate",
    "phone",
    "person.name-birth-date",
    "vessel.name",
)

_NOT_WORD = re.compile(r"[^0-9A-Z]+")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_VESSEL_PREFIX = re.compile(r"^(?:M ?V|F ?V|S ?V|M ?Y) ")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d+\s*$", re.IGNORECASE)
_PLATE_LOOKALIKES = str.maketrans({"O": "0", "I": "1"})


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """A normalized identifier: its type (one of IDENTIFIER_TYPES) and its value."""

    type: str
    value: str


def fold(text: str) -> str:
    """Diacritics dropped, upper case, punctuation and spaces one space, trimmed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    # ß and the like have no decomposition: upper() spells them out (ß -> SS).
    return _NOT_WORD.sub(" ", bare.upper()).strip()


def _compact(text: str) -> str:
    return _NOT_ALNUM.sub("", fold(text))


def person_name(person: PersonIdentity) -> str | None:
    if person.birth_date is None:
        return None
    tokens = sorted(f"{fold(person.given_name)} {fold(person.sur_name)}".split())
    return f"{' '.join(tokens)}|{person.birth_date.isoformat()}" if tokens else None


def a_number(value: str) -> str:
    return _compact(value).removeprefix("A").zfill(9)


def plate(number: str, state: str | None) -> str:
    return f"{fold(state or '')}|{_compact(number).translate(_PLATE_LOOKALIKES)}"


def vessel_name(name: str) -> str | None:
    folded = _VESSEL_PREFIX.sub("", fold(name))
    return folded or None


def hull_id(value: str) -> str:
    compact = _compact(value)
    return compact[2:] if len(compact) == 14 and compact.startswith("US") else compact


def phone(value: str) -> str | None:
    """``value`` in E.164 (``+15551234567``), or None when it is no phone number."""
    text = _EXTENSION.sub("", value.strip())
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        pass
    elif digits.startswith("011"):
        digits = digits[3:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif len(digits) == 10:
        digits = "1" + digits
    elif not (len(digits) == 11 and digits.startswith("1")):
        return None  # a local number without its country: nothing to compare it with
    return f"+{digits}" if 7 <= len(digits) <= 15 else None


def _person(person: PersonIdentity) -> Iterator[Identifier]:
    name = person_name(person)
    if name:
        yield Identifier("person.name-birth-date", name)
    if person.passport_number:
        country = person.passport_country or "??"
        yield Identifier("person.passport", f"{country}|{_compact(person.passport_number)}")
    if person.alien_number:
        yield Identifier("person.a-number", a_number(person.alien_number))
    if person.fbi_number:
        yield Identifier("person.fbi-number", _compact(person.fbi_number))


def _vehicle(vehicle: Vehicle) -> Iterator[Identifier]:
    if vehicle.plate:
        yield Identifier("vehicle.plate", plate(vehicle.plate, vehicle.plate_jurisdiction))
    if vehicle.vin:
        yield Identifier("vehicle.vin", _compact(vehicle.vin))


def _vessel(vessel: Vessel) -> Iterator[Identifier]:
    name = vessel_name(vessel.name) if vessel.name else None
    if name:
        yield Identifier("vessel.name", name)
    if vessel.hull_id:
        yield Identifier("vessel.hull-id", hull_id(vessel.hull_id))
    imo = imo_digits(vessel.imo) if vessel.imo else None
    if imo:
        yield Identifier("vessel.imo", imo)
    if vessel.mmsi:
        yield Identifier("vessel.mmsi", re.sub(r"\D", "", vessel.mmsi))


def identifiers(subjects: Subjects) -> frozenset[Identifier]:
    """Every normalized identifier of ``subjects`` (empty values dropped)."""
    found: set[Identifier] = set()
    for person in subjects.persons:
        found.update(_person(person))
    for vehicle in subjects.vehicles:
        found.update(_vehicle(vehicle))
    for vessel in subjects.vessels:
        found.update(_vessel(vessel))
    for number in subjects.phones:
        normalized = phone(number)
        if normalized:
            found.add(Identifier("phone", normalized))
    return frozenset(i for i in found if i.value.strip("|"))
