"""Events and authorizations for policy tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from intelbus.models import (
    AuthorizationKind,
    DeclaredPurpose,
    DisclosureAuthorization,
    PnrExtract,
    PnrSourceRegion,
    SafeguardsAttestation,
    SensitiveCategory,
    SensitivePnrItem,
)
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import Event, PolicyEngine, Verdict
from intelbus.policy.policyset import PolicySet, load_policy_set
from intelbus.settings import Settings
from tests.factories import NOW

POLICY: PolicySet = load_policy_set(Settings().policies_dir)
RECIPIENTS = list(POLICY.recipients)
AT = NOW + dt.timedelta(hours=1)


def pnr(**overrides: Any) -> PnrExtract:
    fields: dict[str, Any] = {
        "source_region": PnrSourceRegion.EU,
        "loaded_at": NOW - dt.timedelta(days=3),
        "record_locator": "Q7ZK3M",
        "carrier_code": "LH",
        "flight_number": "LH462",
        "route": ["FRA", "MIA"],
        "passenger_names": ["HADDAD/KARIM MR"],
        "contact_data": ["+49 30 5550 1234"],
        "general_remarks": ["OSI LH TCP2"],
        "api_data": ["P/DEU/C4X9K2L71"],
        "sensitive": [SensitivePnrItem(category=SensitiveCategory.HEALTH, code="WCHR")],
        "analysis": "cash, one-way",
    }
    return PnrExtract(**(fields | overrides))


def safeguards(**overrides: Any) -> SafeguardsAttestation:
    fields: dict[str, Any] = {
        "written_understanding": "WU-2026-001",
        "comparable_safeguards": True,
        "purpose_limited": True,
        "no_further_transfer": True,
        "attested_by": "Privacy officer of the receiving authority",
        "attested_at": NOW - dt.timedelta(days=2),
    }
    return SafeguardsAttestation(**(fields | overrides))


def authorization(
    kind: AuthorizationKind, recipient: str, **overrides: Any
) -> DisclosureAuthorization:
    fields: dict[str, Any] = {
        "authorization_id": f"auth-{kind.value.lower()}-{recipient}",
        "kind": kind,
        "recipient": recipient,
        "case_reference": "CASE-1",
        "purpose": DeclaredPurpose.TERRORISM,
        "approving_office": "CBP Office of Field Operations, NTC",
        "safeguards": safeguards(),
        "granted_at": NOW - dt.timedelta(days=1),
        "valid_from": NOW - dt.timedelta(days=1),
        "valid_until": NOW + dt.timedelta(days=30),
    }
    return DisclosureAuthorization(**(fields | overrides))


def verdicts(
    event: Event,
    *authorizations: DisclosureAuthorization,
    at: dt.datetime = AT,
    approved_by: str = "CBP",
) -> dict[str, Verdict]:
    """What every recipient of the policy set gets of ``event``, with ``authorizations`` in
    force as issued by the agency ``approved_by`` (whose topic they arrived on)."""
    engine = PolicyEngine(POLICY, AuthorizationBook(authorizations, approved_by=approved_by))
    record = event.to_avro()
    return {r: engine.evaluate(event, record, r, at) for r in RECIPIENTS}
