"""Who may connect to the bus (``policies/principals.yaml``), and the role of each.

Subscribers are derived from ``recipients.yaml``: one per recipient. Every principal's name
is its SCRAM user name and, as ``User:<name>``, its Kafka ACL principal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from intelbus.models.records import NonEmpty
from intelbus.policy.agencies import KnownAgencyId, load_agencies
from intelbus.policy.recipients import RecipientId, load_recipients
from intelbus.yamlfile import load_yaml_model, refuse_repeated

__all__ = [
    "Principal",
    "Principals",
    "Publisher",
    "Role",
    "load_principals",
    "publisher_principal",
    "subscriber_principal",
]

PRINCIPALS_FILE = "principals.yaml"


class Role(enum.StrEnum):
    OPERATOR = "operator"
    ROUTER = "router"
    REVIEWER = "reviewer"
    PUBLISHER = "publisher"
    DECONFLICTOR = "deconflictor"
    SUBSCRIBER = "subscriber"


def publisher_principal(publisher: str) -> str:
    return f"publisher-{publisher}"


def subscriber_principal(recipient: str) -> str:
    return f"subscriber-{recipient}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Publisher(_Strict):
    id: RecipientId  # the same shape: it names topics
    agency: KnownAgencyId
    approves_disclosures: bool = False

    @property
    def principal(self) -> str:
        return publisher_principal(self.id)


class PrincipalsFile(_Strict):
    operator: NonEmpty
    router: NonEmpty
    reviewer: NonEmpty
    deconflictor: NonEmpty = "deconflict"
    publishers: list[Publisher]

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        # Each agency has one publisher: its topics are its events' proven originator.
        title = type(self).__name__
        refuse_repeated(title, "publishers", [p.id for p in self.publishers])
        refuse_repeated(
            title, "publishers", [p.agency.upper() for p in self.publishers], key="agency"
        )
        return self


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    # The publisher or recipient id the principal acts for (None for the others).
    acts_for: str | None = None


@dataclass(frozen=True)
class Principals:
    operator: str
    router: str
    reviewer: str
    publishers: tuple[Publisher, ...]
    recipients: tuple[str, ...]
    deconflictor: str = "deconflict"

    @property
    def all(self) -> list[Principal]:
        return [
            Principal(self.operator, Role.OPERATOR),
            Principal(self.router, Role.ROUTER),
            Principal(self.reviewer, Role.REVIEWER),
            Principal(self.deconflictor, Role.DECONFLICTOR),
            *(Principal(p.principal, Role.PUBLISHER, p.id) for p in self.publishers),
            *(Principal(subscriber_principal(r), Role.SUBSCRIBER, r) for r in self.recipients),
        ]

    def named(self, name: str) -> Principal | None:
        return next((p for p in self.all if p.name == name), None)

    def publisher(self, publisher_id: str) -> Publisher:
        return next(p for p in self.publishers if p.id == publisher_id)

    def publisher_of_agency(self, agency: str) -> Publisher | None:
        return next((p for p in self.publishers if p.agency.upper() == agency.upper()), None)

    @property
    def approvers(self) -> list[Publisher]:
        return [p for p in self.publishers if p.approves_disclosures]


@cache
def load_principals(policies_dir: Path) -> Principals:
    agencies = {"agencies": load_agencies(policies_dir)}
    data = load_yaml_model(policies_dir / PRINCIPALS_FILE, PrincipalsFile, agencies)
    return Principals(
        operator=data.operator,
        router=data.router,
        reviewer=data.reviewer,
        publishers=tuple(data.publishers),
        recipients=tuple(r.id for r in load_recipients(policies_dir)),
        deconflictor=data.deconflictor,
    )
