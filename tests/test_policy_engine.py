"""The policy engine, without Kafka: every rule fires where it should and nowhere else."""

from __future__ import annotations

import datetime as dt

import pytest

from intelbus.models import Category, Decision, DeclaredPurpose, Lookout, PnrSourceRegion, Pointer
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import PolicyEngine
from intelbus.policy.policyset import RULE_IDS
from tests import factories
from tests.policy_fixtures import AT, POLICY, RECIPIENTS, pnr, verdicts
from tests.scenarios import Scenario, expected_view, scenarios

SCENARIOS = scenarios(AT)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_decisions(scenario: Scenario) -> None:
    """Each recipient gets the expected decision, exact rules, removed fields,
    authorizations and notifications."""
    got = verdicts(scenario.event, *scenario.authorizations, at=AT)
    assert set(got) == set(scenario.expect) == set(RECIPIENTS)
    for recipient, expect in scenario.expect.items():
        verdict = got[recipient]
        actual = (
            verdict.decision.label,
            list(verdict.rules),
            list(verdict.removed_fields),
            list(verdict.authorization_ids),
            list(verdict.notifications),
        )
        wanted = (
            expect.decision,
            expect.rules,
            expect.removed,
            expect.authorizations,
            expect.notifications,
        )
        assert actual == wanted, recipient


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_views(scenario: Scenario) -> None:
    """Whole deliveries are the event itself, redacted ones exactly the expected view,
    pointers carry only the event's id, category and point of contact."""
    event = scenario.event
    for recipient, verdict in verdicts(event, *scenario.authorizations, at=AT).items():
        if verdict.decision is Decision.DENY:
            assert verdict.view is None, recipient
        elif verdict.decision is Decision.POINTER:
            pointer = Pointer.model_validate(verdict.view)
            assert (pointer.event_id, pointer.point_of_contact) == (
                event.event_id,
                event.originator.point_of_contact,
            )
        else:
            view = type(event).model_validate(verdict.view)
            assert view == expected_view(event, list(verdict.removed_fields)), recipient


def test_every_rule_fires_somewhere_and_is_absent_somewhere() -> None:
    fired: set[str] = set()
    absent: set[str] = set()
    for scenario in SCENARIOS:
        for expect in scenario.expect.values():
            fired.update(expect.rules)
            absent.update(set(RULE_IDS) - set(expect.rules))
    assert fired == absent == set(RULE_IDS)


def test_unknown_recipient_fails_closed() -> None:
    engine = PolicyEngine(POLICY, AuthorizationBook())
    event = factories.lookout()
    verdict = engine.evaluate(event, event.to_avro(), "dea-houston", AT)
    assert (verdict.decision, verdict.rules, verdict.view) == (
        Decision.DENY,
        ("fail-closed",),
        None,
    )
    assert "unknown recipient" in verdict.reason


def test_evaluation_error_fails_closed_without_leaking() -> None:
    """A record that does not match its event (here: no pnr field) makes redaction fail;
    the verdict is a deny under fail-closed that names the error."""
    event = factories.lookout(
        category=Category.TERRORIST_THREAT,
        declared_purpose=DeclaredPurpose.TERRORISM,
        areas=["MIP"],
        pnr=pnr(loaded_at=factories.NOW),
    )
    broken = {k: v for k, v in event.to_avro().items() if k != "pnr"}
    verdict = PolicyEngine(POLICY, AuthorizationBook()).evaluate(event, broken, "ice", AT)
    assert (verdict.decision, verdict.rules, verdict.view) == (
        Decision.DENY,
        ("fail-closed",),
        None,
    )
    assert verdict.error is not None
    assert "KeyError" in verdict.error


def test_non_eu_pnr_is_not_restricted() -> None:
    """Only EU PNR carries its own rules (2005 memo: all other PNR is not subject to them)."""
    event = factories.lookout(
        category=Category.TERRORIST_THREAT,
        areas=["MIP"],
        pnr=pnr(
            source_region=PnrSourceRegion.OTHER,
            carrier_code="AA",
            flight_number="AA1234",
            route=["MEX", "MIA"],
            sensitive=[],
        ),
    )
    got = verdicts(event)
    assert got["ice"].decision is Decision.DELIVER
    assert Lookout.model_validate(got["ice"].view).pnr == event.pnr


def test_revoked_and_out_of_window_authorizations_cover_nothing() -> None:
    from intelbus.models import AuthorizationKind  # noqa: PLC0415
    from tests.policy_fixtures import authorization  # noqa: PLC0415

    event = factories.lookout(
        category=Category.TERRORIST_THREAT,
        declared_purpose=DeclaredPurpose.TERRORISM,
        areas=["MIP"],
        case_reference="CASE-1",
        pnr=pnr(sensitive=[]),
    )
    active = authorization(AuthorizationKind.DISCLOSURE, "ice")
    assert verdicts(event, active)["ice"].decision is Decision.DELIVER
    for inactive in (
        active.model_copy(update={"revoked": True}),
        active.model_copy(update={"valid_from": AT + dt.timedelta(minutes=1)}),
        active.model_copy(update={"valid_until": AT}),
        active.model_copy(update={"case_reference": "CASE-2"}),
    ):
        assert verdicts(event, inactive)["ice"].removed_fields == ("pnr",)
    # Issued by anyone but the approving agency (CBP), whatever its text says, it is void.
    claims_cbp = active.model_copy(update={"approving_office": "CBP Office of Field Operations"})
    assert verdicts(event, claims_cbp, approved_by="ICE")["ice"].removed_fields == ("pnr",)
