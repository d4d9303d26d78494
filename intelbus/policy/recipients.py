"""Recipients of the bus (``policies/recipients.yaml``): DHS components and task forces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from intelbus.models import Category
from intelbus.models.records import Country, NonEmpty
from intelbus.yamlfile import load_yaml_model, refuse_repeated

__all__ = ["Member", "Recipient", "RecipientsFile", "Subscription", "load_recipients"]

RECIPIENTS_FILE = "recipients.yaml"
_ID = re.compile(r"[a-z][a-z0-9-]{1,40}")
NATIONWIDE = "*"


def _recipient_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(
            "a recipient id is 2-41 lowercase letters, digits and '-' (used in topic names)"
        )
    return value


RecipientId = Annotated[str, AfterValidator(_recipient_id)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(_Strict):
    agency: NonEmpty
    department: NonEmpty
    law_enforcement: bool
    country: Country

    @property
    def is_dhs(self) -> bool:
        return self.department.upper() == "DHS"

    @property
    def is_foreign(self) -> bool:
        return self.country != "US"


class Subscription(_Strict):
    categories: frozenset[Category] = Field(min_length=1)
    areas: frozenset[NonEmpty] = Field(min_length=1)

    def covers_area(self, areas: list[str] | tuple[str, ...]) -> bool:
        """Nationwide subscribers cover everything; an event with no areas is nationwide."""
        return NATIONWIDE in self.areas or not areas or bool(self.areas.intersection(areas))


class Recipient(_Strict):
    id: RecipientId
    name: NonEmpty
    point_of_contact: NonEmpty
    members: list[Member] = Field(min_length=1)
    subscriptions: Subscription

    # Rule most-restrictive: a recipient is judged by its most restricted member.
    @property
    def all_dhs(self) -> bool:
        return all(member.is_dhs for member in self.members)

    @property
    def has_foreign_member(self) -> bool:
        return any(member.is_foreign for member in self.members)


class RecipientsFile(_Strict):
    recipients: list[Recipient] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        refuse_repeated(type(self).__name__, "recipients", [r.id for r in self.recipients])
        return self


def load_recipients(policies_dir: Path) -> list[Recipient]:
    return load_yaml_model(policies_dir / RECIPIENTS_FILE, RecipientsFile).recipients
