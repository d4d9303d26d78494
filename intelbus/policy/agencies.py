"""The agencies of the bus (``policies/agencies.yaml``): who an originator, a publisher or a
recipient's member is. Events and recipients name them by id; the rules read their
department and country from here, never from an event's own text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from intelbus.models.records import Country, NonEmpty
from intelbus.yamlfile import load_yaml_model, refuse_repeated

__all__ = ["DHS", "Agency", "AgencyId", "KnownAgency", "KnownAgencyId", "load_agencies"]

AGENCIES_FILE = "agencies.yaml"
DHS = "DHS"
_ID = re.compile(r"[A-Z][A-Z0-9-]{1,23}")


def _agency_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError("an agency id is 2-24 capital letters, digits and '-', e.g. CBP")
    return value


AgencyId = Annotated[str, AfterValidator(_agency_id)]


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: AgencyId
    name: NonEmpty
    department: NonEmpty
    country: Country
    law_enforcement: bool

    @property
    def is_dhs(self) -> bool:
        return self.department == DHS

    @property
    def is_foreign(self) -> bool:
        return self.country != "US"


class AgenciesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    agencies: list[Agency] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        refuse_repeated(type(self).__name__, "agencies", [a.id for a in self.agencies])
        return self


def _lookup(value: object, info: ValidationInfo) -> Agency:
    """The agency of agencies.yaml (the validation context's ``agencies``) ``value`` names."""
    agencies: dict[str, Agency] = (info.context or {})["agencies"]
    if not isinstance(value, str):
        raise ValueError("expected an agency id of agencies.yaml, e.g. CBP")
    if value not in agencies:
        raise ValueError(f"unknown agency {value!r}; agencies.yaml has {sorted(agencies)}")
    return agencies[value]


def _known_id(value: str, info: ValidationInfo) -> str:
    return _lookup(value, info).id


# Fields of other policy files that name an agency: validated with {"agencies": ...} as context.
KnownAgency = Annotated[Agency, BeforeValidator(_lookup)]
KnownAgencyId = Annotated[str, AfterValidator(_known_id)]


def load_agencies(policies_dir: Path) -> dict[str, Agency]:
    """The agencies by id."""
    agencies = load_yaml_model(policies_dir / AGENCIES_FILE, AgenciesFile).agencies
    return {agency.id: agency for agency in agencies}
