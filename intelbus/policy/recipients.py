"""Recipients of the bus (``policies/recipients.yaml``): DHS components and task forces, their
members named by agency id (``policies/agencies.yaml``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from intelbus.models import Category
from intelbus.models.records import NonEmpty
from intelbus.policy.agencies import DHS, KnownAgency, load_agencies
from intelbus.yamlfile import load_yaml_model, refuse_repeated

__all__ = ["Recipient", "RecipientsFile", "Subscription", "load_recipients"]

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
    members: list[KnownAgency] = Field(min_length=1)
    subscriptions: Subscription

    # Rule most-restrictive: a recipient is judged by its most restricted member.
    @property
    def all_dhs(self) -> bool:
        return self.all_within(DHS)

    def all_within(self, department: str) -> bool:
        return all(member.department == department for member in self.members)

    def only(self, agency: str) -> bool:
        return all(member.id == agency for member in self.members)

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
    context = {"agencies": load_agencies(policies_dir)}
    return load_yaml_model(policies_dir / RECIPIENTS_FILE, RecipientsFile, context).recipients
