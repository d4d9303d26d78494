"""EU PNR is recognized from the itinerary, not declared; sensitive codes and terms are masked
in every free-text PNR field.

The attacks that worked: a PNR with route FRA->JFK on LH labelled `sourceRegion: OTHER` went
whole to ICE; `SSR MOML ... muslim meal` in the general remarks reached every recipient."""

from __future__ import annotations

from typing import Any

from intelbus.models import (
    AuthorizationKind,
    Category,
    Decision,
    DeclaredPurpose,
    Handling,
    Lookout,
    Marking,
    PnrSourceRegion,
)
from tests import factories
from tests.policy_fixtures import authorization, pnr, verdicts


def _pnr_lookout(**extract: Any) -> Lookout:
    return factories.lookout(
        category=Category.TERRORIST_THREAT,
        declared_purpose=DeclaredPurpose.TERRORISM,
        areas=["MIP"],
        case_reference="CASE-1",
        handling=Handling(markings=[Marking.LES]),
        pnr=pnr(**extract),
    )


def test_a_route_through_an_eu_airport_makes_eu_pnr_whatever_the_label() -> None:
    event = _pnr_lookout(source_region=PnrSourceRegion.OTHER, route=["FRA", "JFK"], sensitive=[])
    decided = verdicts(event)
    assert decided["cbp"].decision is Decision.DELIVER
    assert decided["ice"].view is not None
    assert decided["ice"].view["pnr"] is None, "EU PNR reached a third party without authorization"


def test_sensitive_terms_in_general_remarks_are_masked_for_everyone() -> None:
    remark = "SSR MOML LH HK1 FRAJFK 0400Y15NOV muslim meal"
    event = _pnr_lookout(general_remarks=["OSI LH TCP2", remark], sensitive=[])
    for recipient, verdict in verdicts(event).items():
        if verdict.view is None or verdict.view.get("pnr") is None:
            continue
        remarks = verdict.view["pnr"]["generalRemarks"]
        assert remark not in remarks, f"{recipient} received a sensitive remark"
        assert "OSI LH TCP2" in remarks


def test_the_label_can_only_make_a_pnr_stricter() -> None:
    """A PNR labelled EU is EU PNR even when its route never touches the EU."""
    event = _pnr_lookout(source_region=PnrSourceRegion.EU, route=["MEX", "MIA"], sensitive=[])
    view = verdicts(event)["ice"].view
    assert view is not None
    assert view["pnr"] is None


def test_an_airport_nobody_knows_counts_as_eu() -> None:
    event = _pnr_lookout(source_region=PnrSourceRegion.OTHER, route=["ZZQ", "MIA"], sensitive=[])
    verdict = verdicts(event)["ice"]
    assert verdict.view is not None
    assert verdict.view["pnr"] is None
    assert "'ZZQ', an airport code nobody knows" in verdict.reason


def test_a_route_outside_the_eu_and_eea_is_not_eu_pnr() -> None:
    """The United Kingdom left the EU: LHR alone does not make EU PNR."""
    event = _pnr_lookout(source_region=PnrSourceRegion.OTHER, route=["LHR", "JFK"], sensitive=[])
    assert verdicts(event)["ice"].decision is Decision.DELIVER


def test_break_glass_shows_sensitive_remarks() -> None:
    remark = "SSR WCHR LH NN1"
    event = _pnr_lookout(general_remarks=[remark], sensitive=[])
    glass = authorization(AuthorizationKind.SENSITIVE_BREAK_GLASS, "cbp")
    cbp = verdicts(event, glass)["cbp"]
    assert cbp.view is not None
    assert cbp.view["pnr"]["generalRemarks"] == [remark]
    assert cbp.authorization_ids == (glass.authorization_id,)
