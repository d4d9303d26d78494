"""Identities and markings are data: an originator is an agency of policies/agencies.yaml
(its department read from there, never from the event), ORCON binds whoever originated it,
and TLP 2.0 is a rule.

The attacks that worked: an ICE LES+ORCON lookout whose originator department read
"Department of Homeland Security" went whole to BEST Laredo; an FBI ORCON lookout went whole
to BEST Laredo; a TLP:RED lookout went to ICE and IBET Blaine with no named recipient."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from intelbus.models import Component, Decision, Handling, Marking, Tlp
from tests import factories
from tests.policy_fixtures import verdicts


def _decisions(agency: str, handling: Handling) -> dict[str, Decision]:
    event = factories.lookout(
        originator=factories.originator(
            agency=agency, component=Component.OTHER, office=f"{agency} field office"
        ),
        areas=["BLW", "LRT", "MIP"],
        handling=handling,
    )
    return {r: v.decision for r, v in verdicts(event).items()}


def test_an_event_cannot_state_its_originators_department() -> None:
    with pytest.raises(ValidationError, match="department"):
        factories.originator(agency="ICE", department="Department of Homeland Security")


def test_an_originator_the_agencies_file_does_not_know_gets_nothing_delivered() -> None:
    event = factories.lookout(
        originator=factories.originator(agency="Department of Homeland Security"),
        handling=Handling(markings=[Marking.LES, Marking.ORCON]),
    )
    for recipient, verdict in verdicts(event).items():
        assert verdict.decision is Decision.DENY, recipient
        assert "fail-closed" in verdict.rules
        assert "unknown originator agency" in verdict.reason


def test_dhs_orcon_goes_to_a_mixed_task_force_as_a_pointer() -> None:
    decided = _decisions("ICE", Handling(markings=[Marking.LES, Marking.ORCON]))
    assert decided["best-laredo"] is Decision.POINTER
    assert decided["cbp"] is Decision.DELIVER  # DHS components are not third parties


@pytest.mark.parametrize(
    ("agency", "whole", "pointer"),
    [
        # The FBI's department is DOJ: CBP, ICE and every task force are outside it.
        ("FBI", set(), {"cbp", "ice", "best-laredo", "jttf-miami", "ibet-blaine"}),
        ("ICE", {"cbp", "ice"}, {"best-laredo", "jttf-miami", "ibet-blaine"}),
    ],
)
def test_orcon_needs_the_consent_of_any_originator(
    agency: str, whole: set[str], pointer: set[str]
) -> None:
    decided = _decisions(agency, Handling(markings=[Marking.LES, Marking.ORCON]))
    assert {r for r, d in decided.items() if d is Decision.DELIVER} == whole
    assert {r for r, d in decided.items() if d is Decision.POINTER} == pointer
    consented = _decisions(
        agency,
        Handling(markings=[Marking.LES, Marking.ORCON], approved_recipients=["best-laredo"]),
    )
    assert consented["best-laredo"] is Decision.DELIVER


def _receivers(tlp: Tlp, named: list[str] | None = None, agency: str = "ICE") -> set[str]:
    handling = Handling(markings=[Marking.LES], tlp=tlp, approved_recipients=named or [])
    return {r for r, d in _decisions(agency, handling).items() if d is not Decision.DENY}


ALL = {"cbp", "ice", "best-laredo", "jttf-miami", "ibet-blaine"}


def test_tlp_red_goes_to_named_recipients_only() -> None:
    assert _receivers(Tlp.RED) == set()
    assert _receivers(Tlp.RED, ["cbp", "ibet-blaine"]) == {"cbp", "ibet-blaine"}


def test_tlp_amber_strict_stays_in_the_originators_organization() -> None:
    assert _receivers(Tlp.AMBER_STRICT, agency="ICE") == {"ice"}
    assert _receivers(Tlp.AMBER_STRICT, agency="CBP") == {"cbp"}
    assert _receivers(Tlp.AMBER_STRICT, agency="FBI") == set()


@pytest.mark.parametrize("tlp", [Tlp.AMBER, Tlp.GREEN, Tlp.CLEAR])
def test_tlp_amber_green_and_clear_add_nothing_to_need_to_know(tlp: Tlp) -> None:
    assert _receivers(tlp) == ALL


def test_tlp_and_noforn_most_restrictive_wins() -> None:
    handling = Handling(
        markings=[Marking.LES, Marking.NOFORN], tlp=Tlp.RED, approved_recipients=["ibet-blaine"]
    )
    decided = verdicts(
        factories.lookout(areas=["BLW"], handling=handling, originator=factories.originator())
    )
    assert decided["ibet-blaine"].decision is Decision.DENY
    assert "noforn" in decided["ibet-blaine"].rules
