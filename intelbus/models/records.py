"""Pydantic models of the event contract, one per named Avro record in ``schemas/avro``.

The Avro schemas are the contract; these models mirror them field by field (a test walks
both and proves it) and add what Avro cannot say: country codes, time zones, ordering of
times, non-empty identifiers, coordinate ranges. Python attributes are snake_case; the
wire names (aliases) are the schemas' camelCase names.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from intelbus.models.countries import ISO_3166_ALPHA2
from intelbus.models.enums import (
    AuthorizationKind,
    Category,
    Component,
    Decision,
    DeclaredPurpose,
    DeconflictionMatch,
    EventKind,
    Marking,
    NoticeKind,
    OutcomeKind,
    PnrSourceRegion,
    Priority,
    SensitiveCategory,
    ThreatLevel,
    Tlp,
)

__all__ = [
    "CaseOutcome",
    "ChainSeal",
    "DeconflictionCheck",
    "DeconflictionNotice",
    "DisclosureAuthorization",
    "Handling",
    "HitAnswer",
    "HitReport",
    "KeyRotation",
    "LifecycleNotice",
    "Location",
    "Lookout",
    "OfficerSafetyAlert",
    "Operation",
    "OperationPlace",
    "Originator",
    "PersonIdentity",
    "PnrExtract",
    "Pointer",
    "PolicyDecision",
    "Record",
    "SafeguardsAttestation",
    "SensitivePnrItem",
    "Subjects",
    "Vehicle",
    "Vessel",
    "Withdrawal",
]

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Avro's int and long are 32 and 64 bits: a value beyond them is refused here, by field,
# instead of failing later at encoding. Narrow them with an outer Field: the last bound wins.
AvroInt = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
AvroLong = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


def _country(code: str) -> str:
    if code not in ISO_3166_ALPHA2:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


Country = Annotated[str, AfterValidator(_country)]


def _utc_millis(value: dt.datetime) -> dt.datetime:
    # Avro timestamp-millis keeps UTC milliseconds; normalising here makes a round trip exact.
    if value.tzinfo is dt.UTC and value.microsecond % 1000 == 0:
        return value  # as fastavro decodes it: already normal (the router's hot path)
    value = value.astimezone(dt.UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


Instant = Annotated[AwareDatetime, AfterValidator(_utc_millis)]
_ALIEN_NUMBER = re.compile(r"A?\d{8,9}")
_VIN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
_IMO = re.compile(r"(?:IMO[ -]?)?(\d{7})", re.IGNORECASE)
_MMSI = re.compile(r"\d{9}")


def _alien_number(value: str) -> str:
    if not _ALIEN_NUMBER.fullmatch(value):
        raise ValueError("an alien number is 'A' followed by 8 or 9 digits")
    return value


def _vin(value: str) -> str:
    if not _VIN.fullmatch(value):
        raise ValueError("a VIN is 17 letters and digits, without I, O or Q")
    return value


def imo_digits(value: str) -> str | None:
    """The 7 digits of an IMO number, if ``value`` is one: its last digit is the sum of the
    first six weighted 7..2, modulo 10 (so a mistyped digit is caught, not matched)."""
    found = _IMO.fullmatch(value.strip())
    if found is None:
        return None
    digits = found.group(1)
    check = sum(int(d) * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True)) % 10
    return digits if check == int(digits[6]) else None


def _imo(value: str) -> str:
    if imo_digits(value) is None:
        raise ValueError("an IMO number is 7 digits (optionally after 'IMO '), a valid check digit")
    return value


def _mmsi(value: str) -> str:
    if not _MMSI.fullmatch(value.replace(" ", "")):
        raise ValueError("an MMSI is 9 digits")
    return value


def _after(later: dt.datetime, info: ValidationInfo, earlier_field: str) -> dt.datetime:
    """Check ``later`` against an earlier field (validated before it, so in ``info.data``)."""
    earlier = info.data.get(earlier_field)
    if earlier is not None and later <= earlier:
        raise ValueError(f"must be after {to_camel(earlier_field)} ({earlier.isoformat()})")
    return later


class Record(BaseModel):
    """Base of every model of a named Avro record."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )
    avro_name: ClassVar[str]

    def to_avro(self) -> dict[str, Any]:
        """The record as fastavro expects it (wire names, datetimes kept as datetimes)."""
        return self.model_dump(by_alias=True)


class Originator(Record):
    avro_name = "intelbus.Originator"
    agency: NonEmpty  # an agency id (policies/agencies.yaml), checked against the policy set
    component: Component = Component.OTHER
    office: NonEmpty
    point_of_contact: NonEmpty


class PersonIdentity(Record):
    avro_name = "intelbus.PersonIdentity"
    given_name: NonEmpty
    sur_name: NonEmpty
    middle_name: str | None = None
    aliases: list[NonEmpty] = []
    birth_date: dt.date | None = None
    citizenship_country: Country | None = None
    passport_number: NonEmpty | None = None
    passport_country: Country | None = None
    alien_number: Annotated[str, AfterValidator(_alien_number)] | None = None
    fbi_number: NonEmpty | None = None
    eu_resident: bool = False

    @property
    def key(self) -> str:
        """The most specific identifier, used as the Kafka key of events about this person."""
        if self.alien_number:
            return f"person:a:{self.alien_number}"
        if self.passport_number:
            return f"person:passport:{self.passport_country or ''}:{self.passport_number}"
        if self.fbi_number:
            return f"person:fbi:{self.fbi_number}"
        born = self.birth_date.isoformat() if self.birth_date else ""
        return f"person:name:{self.sur_name.upper()}:{self.given_name.upper()}:{born}"


class Vehicle(Record):
    avro_name = "intelbus.Vehicle"
    plate: NonEmpty | None = None
    plate_jurisdiction: NonEmpty | None = None
    vin: Annotated[str, AfterValidator(_vin)] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> Self:
        if not (self.plate or self.vin):
            raise ValueError("a vehicle needs a plate or a VIN")
        return self

    @property
    def key(self) -> str:
        if self.vin:
            return f"vehicle:vin:{self.vin}"
        return f"vehicle:plate:{self.plate_jurisdiction or ''}:{self.plate}"


class Vessel(Record):
    avro_name = "intelbus.Vessel"
    name: NonEmpty | None = None
    hull_id: NonEmpty | None = None
    call_sign: NonEmpty | None = None
    flag_country: Country | None = None
    imo: Annotated[str, AfterValidator(_imo)] | None = None
    mmsi: Annotated[str, AfterValidator(_mmsi)] | None = None

    @model_validator(mode="after")
    def _identified(self) -> Self:
        if not (self.hull_id or self.call_sign or self.name or self.imo or self.mmsi):
            raise ValueError("a vessel needs a hull id, a call sign, a name, an IMO or an MMSI")
        return self

    @property
    def key(self) -> str:
        if self.hull_id:
            return f"vessel:hull:{self.hull_id}"
        if self.call_sign:
            return f"vessel:callsign:{self.call_sign}"
        if self.imo:
            return f"vessel:imo:{imo_digits(self.imo)}"
        if self.mmsi:
            return f"vessel:mmsi:{self.mmsi.replace(' ', '')}"
        return f"vessel:name:{(self.name or '').upper()}"


class Subjects(Record):
    avro_name = "intelbus.Subjects"
    persons: list[PersonIdentity] = []
    vehicles: list[Vehicle] = []
    vessels: list[Vessel] = []
    phones: list[NonEmpty] = []

    @property
    def key(self) -> str | None:
        """The first identifier (person, vehicle, vessel): events about it share a partition."""
        for items in (self.persons, self.vehicles, self.vessels):
            if items:
                return items[0].key
        return None


class Location(Record):
    avro_name = "intelbus.Location"
    # NaN compares false with every bound: refuse it (and infinities) as not a number first.
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    place_name: NonEmpty
    area_code: NonEmpty
    country: Country = "US"

    @model_validator(mode="after")
    def _both_coordinates(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude go together: give both or neither")
        return self


class Handling(Record):
    avro_name = "intelbus.Handling"
    markings: list[Marking] = []
    tlp: Tlp = Tlp.AMBER
    approved_recipients: list[NonEmpty] = []


class SensitivePnrItem(Record):
    avro_name = "intelbus.SensitivePnrItem"
    category: SensitiveCategory
    code: NonEmpty
    text: str | None = None


class PnrExtract(Record):
    avro_name = "intelbus.PnrExtract"
    source_region: PnrSourceRegion
    loaded_at: Instant
    record_locator: NonEmpty
    carrier_code: NonEmpty
    flight_number: NonEmpty
    route: list[NonEmpty] = []
    passenger_names: list[str] = []
    contact_data: list[str] = []
    general_remarks: list[str] = []
    api_data: list[str] = []
    sensitive: list[SensitivePnrItem] = []
    analysis: str | None = None


class Lookout(Record):
    avro_name = "intelbus.Lookout"
    event_id: NonEmpty
    version: Annotated[AvroInt, Field(ge=1)] = 1
    issued_at: Instant
    valid_until: Instant
    originator: Originator
    category: Category
    priority: Priority = Priority.ROUTINE
    declared_purpose: DeclaredPurpose
    subjects: Subjects
    narrative: NonEmpty
    areas: list[NonEmpty] = []
    case_reference: NonEmpty | None = None
    handling: Handling
    pnr: PnrExtract | None = None

    @field_validator("valid_until")
    @classmethod
    def _expires_after_issue(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        return _after(value, info, "issued_at")


class OfficerSafetyAlert(Record):
    avro_name = "intelbus.OfficerSafetyAlert"
    event_id: NonEmpty
    version: Annotated[AvroInt, Field(ge=1)] = 1
    issued_at: Instant
    window_start: Instant
    window_end: Instant
    originator: Originator
    threat_level: ThreatLevel
    location: Location
    subjects: Subjects
    armed_and_dangerous: bool = False
    narrative: NonEmpty
    case_reference: NonEmpty | None = None
    handling: Handling

    @field_validator("window_end")
    @classmethod
    def _window_ends_after_start(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        return _after(value, info, "window_start")


class OperationPlace(Record):
    avro_name = "intelbus.OperationPlace"
    area_codes: list[NonEmpty] = []
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    radius_km: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    description: str | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> Self:
        circle = (self.latitude, self.longitude, self.radius_km)
        if any(v is None for v in circle) and any(v is not None for v in circle):
            raise ValueError("latitude, longitude and radiusKm go together: give all or none")
        if not self.area_codes and self.latitude is None:
            raise ValueError("an operation's place needs areaCodes or a point with radiusKm")
        return self


class Operation(Record):
    avro_name = "intelbus.Operation"
    operation_id: NonEmpty
    version: Annotated[AvroInt, Field(ge=1)] = 1
    issued_at: Instant
    originator: Originator
    task_force: NonEmpty | None = None
    place: OperationPlace
    window_start: Instant
    window_end: Instant
    targets: Subjects
    case_reference: NonEmpty | None = None
    handling: Handling

    @field_validator("window_end")
    @classmethod
    def _window_ends_after_start(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        return _after(value, info, "window_start")


class DeconflictionCheck(Record):
    avro_name = "intelbus.DeconflictionCheck"
    check_id: NonEmpty
    asked_at: Instant
    asked_by: Originator
    targets: Subjects
    place: OperationPlace | None = None
    window_start: Instant
    window_end: Instant
    purpose: NonEmpty

    @field_validator("window_end")
    @classmethod
    def _window_ends_after_start(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        return _after(value, info, "window_start")

    @model_validator(mode="after")
    def _asks_something(self) -> Self:
        if self.place is None and not any(
            (self.targets.persons, self.targets.vehicles, self.targets.vessels, self.targets.phones)
        ):
            raise ValueError("a check asks about targets, a place, or both")
        return self

    @property
    def event_id(self) -> str:
        return self.check_id


class DeconflictionNotice(Record):
    avro_name = "intelbus.DeconflictionNotice"
    notice_id: NonEmpty
    match: DeconflictionMatch
    noticed_at: Instant
    to_agency: NonEmpty
    to_task_force: NonEmpty | None = None
    your_event_id: NonEmpty
    other_agency: NonEmpty
    other_point_of_contact: NonEmpty
    other_event_id: NonEmpty
    identifier_type: NonEmpty | None = None
    markings: list[Marking] = []
    orcon_agencies: list[NonEmpty] = []
    from_eu_pnr: bool = False

    @property
    def event_id(self) -> str:
        """A notice is an event of its own for feeds and the decision log."""
        return self.notice_id


def _holds(value: bool) -> bool:
    if not value:
        raise ValueError("must be true: an onward transfer needs every condition of Art. 16")
    return value


# A condition of an onward transfer of EU PNR: false can be written, and is refused.
Condition = Annotated[bool, AfterValidator(_holds)]


class SafeguardsAttestation(Record):
    avro_name = "intelbus.SafeguardsAttestation"
    written_understanding: NonEmpty
    comparable_safeguards: Condition
    purpose_limited: Condition
    no_further_transfer: Condition
    attested_by: NonEmpty
    attested_at: Instant


# Authorizations that move EU PNR to another authority (Art. 16): they need the attestation.
ONWARD_TRANSFERS = frozenset({AuthorizationKind.DISCLOSURE, AuthorizationKind.FOREIGN_TRANSFER})


class DisclosureAuthorization(Record):
    avro_name = "intelbus.DisclosureAuthorization"
    authorization_id: NonEmpty
    kind: AuthorizationKind
    recipient: NonEmpty
    event_id: NonEmpty | None = None
    case_reference: NonEmpty | None = None
    purpose: DeclaredPurpose
    approving_office: NonEmpty
    safeguards: SafeguardsAttestation | None = None
    granted_at: Instant
    valid_from: Instant
    valid_until: Instant
    revoked: bool = False

    @field_validator("valid_until")
    @classmethod
    def _expires_after_start(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        return _after(value, info, "valid_from")

    @model_validator(mode="after")
    def _has_scope(self) -> Self:
        if not (self.event_id or self.case_reference):
            raise ValueError("an authorization must name an eventId or a caseReference")
        return self

    @model_validator(mode="after")
    def _attested(self) -> Self:
        if self.kind in ONWARD_TRANSFERS and self.safeguards is None:
            raise ValueError(
                f"a {self.kind.value} authorization is an onward transfer of EU PNR: it needs "
                "safeguards (the receiving authority's comparable-safeguards attestation, "
                "EU-US PNR Agreement Art. 16)"
            )
        return self


class CaseOutcome(Record):
    avro_name = "intelbus.CaseOutcome"
    outcome_id: NonEmpty
    event_id: NonEmpty
    reported_by: NonEmpty
    reported_at: Instant
    outcome: OutcomeKind
    detail: NonEmpty
    case_reference: NonEmpty | None = None


class Withdrawal(Record):
    avro_name = "intelbus.Withdrawal"
    event_id: NonEmpty
    originator: NonEmpty  # an agency id: the event's originator and the topic's publisher
    withdrawn_at: Instant
    reason: NonEmpty


class HitReport(Record):
    avro_name = "intelbus.HitReport"
    hit_id: NonEmpty
    event_id: NonEmpty
    reported_by: NonEmpty  # an agency id: the topic's publisher
    reported_at: Instant
    place: NonEmpty
    detail: NonEmpty


class HitAnswer(Record):
    avro_name = "intelbus.HitAnswer"
    hit_id: NonEmpty
    event_id: NonEmpty
    answered_by: NonEmpty  # an agency id: the lookout's originator and the topic's publisher
    answered_at: Instant
    confirmed: bool
    detail: NonEmpty


class LifecycleNotice(Record):
    avro_name = "intelbus.LifecycleNotice"
    event_id: NonEmpty
    event_version: Annotated[AvroInt, Field(ge=1)]
    notice: NoticeKind
    reason: NonEmpty
    notice_at: Instant
    originator_agency: NonEmpty


class Pointer(Record):
    avro_name = "intelbus.Pointer"
    event_id: NonEmpty
    event_kind: EventKind
    category: Category
    priority: Priority = Priority.ROUTINE
    issued_at: Instant
    originator_agency: NonEmpty
    originator_office: NonEmpty
    point_of_contact: NonEmpty
    reason: NonEmpty


class PolicyDecision(Record):
    avro_name = "intelbus.PolicyDecision"
    decision_id: NonEmpty
    event_id: NonEmpty
    event_version: AvroInt
    event_kind: EventKind
    recipient: NonEmpty
    decision: Decision
    rules: list[str]
    removed_fields: list[str]
    authorization_ids: list[str]
    onward_transfer: bool
    carried_eu_pnr: bool
    delivered_eu_pnr: bool
    notifications: list[str]
    reason: NonEmpty
    policy_version: NonEmpty
    decided_at: Instant
    source_topic: NonEmpty
    source_partition: AvroInt
    source_offset: AvroLong
    feed_topic: str | None = None
    chain: NonEmpty
    sequence: Annotated[AvroLong, Field(ge=0)]
    previous_hash: NonEmpty
    hash: NonEmpty


class ChainSeal(Record):
    avro_name = "intelbus.ChainSeal"
    chain: NonEmpty
    sequence: Annotated[AvroLong, Field(ge=0)]
    head_hash: NonEmpty
    previous_seal_hash: NonEmpty
    sealed_at: Instant
    key_id: NonEmpty
    signature: bytes
    signature_version: AvroInt = 1


class KeyRotation(Record):
    avro_name = "intelbus.KeyRotation"
    previous_key_id: NonEmpty
    key_id: NonEmpty
    public_key: bytes
    rotated_at: Instant
    signature_version: AvroInt
    signature: bytes
