"""What makes a disclosure authorization count: a recipient the policy knows, and for an
onward transfer of EU PNR a structured comparable-safeguards attestation (EU-US PNR
Agreement, Art. 16).

The attacks that worked: `writtenUnderstanding: "NONE - no comparable-safeguards
attestation"` released PNR to JTTF Miami; an authorization naming an unknown recipient id
passed validation."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pydantic import ValidationError

from intelbus.models import (
    AuthorizationKind,
    Category,
    DeclaredPurpose,
    DisclosureAuthorization,
    Lookout,
)
from intelbus.settings import Settings
from producers.input import parse_records
from tests import factories
from tests.policy_fixtures import authorization, pnr, verdicts


def _pnr_lookout() -> Lookout:
    return factories.lookout(
        category=Category.TERRORIST_THREAT,
        declared_purpose=DeclaredPurpose.TERRORISM,
        areas=["MIP"],
        case_reference="CASE-1",
        pnr=pnr(sensitive=[]),
    )


def _wire(record: DisclosureAuthorization, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record.model_dump_json(by_alias=True))
    return data | changes


@pytest.mark.parametrize("kind", [AuthorizationKind.DISCLOSURE, AuthorizationKind.FOREIGN_TRANSFER])
def test_an_onward_transfer_without_a_safeguards_attestation_is_no_authorization(
    kind: AuthorizationKind,
) -> None:
    unattested = _wire(authorization(kind, "jttf-miami"), safeguards=None)
    with pytest.raises(ValidationError, match="safeguards"):
        DisclosureAuthorization.model_validate(unattested)


@pytest.mark.parametrize(
    "condition", ["comparableSafeguards", "purposeLimited", "noFurtherTransfer"]
)
def test_every_condition_of_the_attestation_must_hold(condition: str) -> None:
    record = _wire(authorization(AuthorizationKind.DISCLOSURE, "jttf-miami"))
    record["safeguards"][condition] = False
    with pytest.raises(ValidationError, match=condition):
        DisclosureAuthorization.model_validate(record)


def test_an_attested_disclosure_releases_the_pnr() -> None:
    attested = authorization(AuthorizationKind.DISCLOSURE, "jttf-miami")
    view = verdicts(_pnr_lookout(), attested)["jttf-miami"].view
    assert view is not None
    assert view["pnr"] is not None


def _parse(record: dict[str, Any]) -> list[str]:
    valid: list[DisclosureAuthorization] = []
    data = json.dumps(record).encode()
    count, problems = parse_records(
        io.BytesIO(data), DisclosureAuthorization, valid.append, Settings()
    )
    assert count == 1
    assert bool(valid) != bool(problems)
    return [str(problem) for problem in problems]


def test_publish_input_refuses_an_unattested_onward_transfer() -> None:
    record = _wire(authorization(AuthorizationKind.DISCLOSURE, "ice"), safeguards=None)
    [problem] = _parse(record)
    assert "needs safeguards" in problem


def test_an_authorization_naming_an_unknown_recipient_is_refused() -> None:
    problems = _parse(_wire(authorization(AuthorizationKind.DISCLOSURE, "nobody-at-all")))
    assert problems == [
        "line 1: recipient: unknown recipient 'nobody-at-all'; recipients.yaml has "
        "['best-laredo', 'cbp', 'ibet-blaine', 'ice', 'jttf-miami']"
    ]
