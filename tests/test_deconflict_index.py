"""The index, place and time overlap, the notices and their policy, without Kafka."""

from __future__ import annotations

import datetime as dt

import pytest

from intelbus.deconflict.entries import Entry, from_lookout, from_operation, millis
from intelbus.deconflict.index import Index
from intelbus.deconflict.notices import notices
from intelbus.deconflict.place import distance_km
from intelbus.models import (
    Decision,
    DeconflictionMatch,
    Handling,
    Lookout,
    Marking,
    Operation,
    OperationPlace,
    Subjects,
)
from intelbus.policy.deconfliction import notice_verdict
from intelbus.policy.policyset import DECONFLICTION_RULE_IDS
from tests.deconflict_helpers import LADY_MARISOL, operation
from tests.factories import NOW, lookout, originator
from tests.policy_fixtures import POLICY, RECIPIENTS, pnr

NOW_MS = millis(NOW)
CBP = originator(agency="CBP", point_of_contact="MIO Alvarez, AMO Miami")
ICE = originator(agency="ICE", point_of_contact="SA Delgado, HSI Miami")


def _index(*entries: Entry) -> Index:
    index = Index()
    index.load(entries)
    return index


def test_same_target_of_another_agency_conflicts_once_per_pair() -> None:
    tracked = from_lookout(lookout(originator=ICE, subjects=LADY_MARISOL))
    planned = from_operation(operation(originator=CBP, targets=LADY_MARISOL))
    (conflict,) = _index(tracked).conflicts(planned, NOW_MS)
    assert conflict.match is DeconflictionMatch.SAME_TARGET
    assert conflict.other.event_id == tracked.event_id
    assert conflict.identifier is not None
    assert conflict.identifier.type == "vessel.hull-id"
    told = _index(tracked.with_told(f"SAME_TARGET:{planned.event_id}"))
    assert told.conflicts(planned, NOW_MS) == []


def test_same_agency_expired_or_removed_entries_do_not_conflict() -> None:
    planned = from_operation(operation(originator=CBP, targets=LADY_MARISOL))
    own = from_lookout(lookout(originator=CBP, subjects=LADY_MARISOL))
    assert _index(own).conflicts(planned, NOW_MS) == []
    other = from_lookout(lookout(originator=ICE, subjects=LADY_MARISOL))
    index = _index(other)
    assert index.conflicts(planned, other.expires_ms) == []
    assert [e.event_id for e in index.due(other.expires_ms)] == [other.event_id]
    index.remove(other.event_id)
    assert index.conflicts(planned, NOW_MS) == []
    assert index.identifiers == 0


def test_a_new_version_replaces_the_identifiers_of_the_last() -> None:
    first = lookout(originator=ICE, subjects=LADY_MARISOL)
    index = _index(from_lookout(first))
    changed = first.model_copy(update={"version": 2, "subjects": Subjects(phones=["9565550142"])})
    index.put(from_lookout(changed))
    planned = from_operation(operation(originator=CBP, targets=LADY_MARISOL))
    assert index.conflicts(planned, NOW_MS) == []
    assert index.identifiers == 1


def _place(**fields: object) -> OperationPlace:
    return OperationPlace.model_validate(fields)


@pytest.mark.parametrize(
    ("a", "b", "shift_h", "overlap"),
    [
        (_place(areaCodes=["LRT"]), _place(areaCodes=["lrt "]), 2, True),
        (_place(areaCodes=["LRT"]), _place(areaCodes=["DRT"]), 0, False),
        # 8 km apart, radii 5 + 5: the circles intersect; radii 3 + 3 do not.
        (
            _place(latitude=27.5, longitude=-99.5, radiusKm=5),
            _place(latitude=27.5719, longitude=-99.5, radiusKm=5),
            0,
            True,
        ),
        (
            _place(latitude=27.5, longitude=-99.5, radiusKm=3),
            _place(latitude=27.5719, longitude=-99.5, radiusKm=3),
            0,
            False,
        ),
        # Same sector, but the second starts when the first ends (8 h window): no overlap.
        (_place(areaCodes=["LRT"]), _place(areaCodes=["LRT"]), 8, False),
    ],
)
def test_place_and_time_overlap(
    a: OperationPlace, b: OperationPlace, shift_h: int, overlap: bool
) -> None:
    shift = dt.timedelta(hours=shift_h)
    first = from_operation(operation(originator=ICE, place=a))
    second = operation(
        originator=CBP,
        place=b,
        window_start=NOW + dt.timedelta(hours=1) + shift,
        window_end=NOW + dt.timedelta(hours=9) + shift,
    )
    found = _index(first).conflicts(from_operation(second), NOW_MS)
    assert [c.match for c in found] == ([DeconflictionMatch.PLACE_AND_TIME] if overlap else [])


def test_distance_is_great_circle() -> None:
    assert distance_km(27.5, -99.5, 27.5719, -99.5) == pytest.approx(8.0, abs=0.01)


def test_notices_tell_each_party_the_other_and_nothing_else() -> None:
    tracked = from_lookout(lookout(originator=ICE, subjects=LADY_MARISOL))
    planned = from_operation(operation(originator=CBP, targets=LADY_MARISOL))
    (conflict,) = _index(tracked).conflicts(planned, NOW_MS)
    to_cbp, to_ice = notices(planned, conflict, NOW)
    assert (to_cbp.to_agency, to_cbp.other_agency) == ("CBP", "ICE")
    assert to_cbp.other_point_of_contact == "SA Delgado, HSI Miami"
    assert to_cbp.other_event_id == tracked.event_id
    assert to_ice.other_point_of_contact == "MIO Alvarez, AMO Miami"
    assert to_ice.identifier_type == to_cbp.identifier_type == "vessel.hull-id"
    assert to_ice.notice_id != to_cbp.notice_id
    assert notices(planned, conflict, NOW) == [to_cbp, to_ice]  # the same on a replay


def _delivered(entry_a: Entry, entry_b: Entry) -> dict[str, set[str]]:
    """For each addressee agency, the recipients its notice is delivered to."""
    (conflict,) = _index(entry_a).conflicts(entry_b, NOW_MS)
    return {
        notice.to_agency: {
            r for r in RECIPIENTS if notice_verdict(POLICY, notice, r).decision is Decision.DELIVER
        }
        for notice in notices(entry_b, conflict, NOW)
    }


def test_notices_reach_the_parties_own_recipients_only() -> None:
    tracked = from_lookout(lookout(originator=ICE, subjects=LADY_MARISOL))
    planned = from_operation(operation(originator=CBP, targets=LADY_MARISOL))
    assert _delivered(tracked, planned) == {"CBP": {"cbp"}, "ICE": {"ice"}}


def test_noforn_notice_never_reaches_a_task_force_with_foreign_members() -> None:
    laredo = OperationPlace(area_codes=["LRT"])
    mine = operation(originator=ICE, place=laredo, task_force="best-laredo")
    theirs = operation(originator=CBP, place=laredo)
    assert _delivered(from_operation(mine), from_operation(theirs)) == {
        "CBP": {"cbp"},
        "ICE": {"ice", "best-laredo"},
    }
    noforn = theirs.model_copy(update={"handling": Handling(markings=[Marking.NOFORN])})
    verdicts = _delivered(from_operation(mine), from_operation(noforn))
    assert verdicts == {"CBP": {"cbp"}, "ICE": {"ice"}}


def test_eu_pnr_match_is_told_to_cbp_only_whichever_came_first() -> None:
    phones = Subjects(phones=["+49 30 5550 1234"])
    pnr_lookout = from_lookout(lookout(originator=CBP, subjects=Subjects(), pnr=pnr()))
    planned = from_operation(operation(originator=ICE, targets=phones))
    assert _delivered(pnr_lookout, planned) == {"CBP": {"cbp"}, "ICE": set()}
    assert _delivered(planned, pnr_lookout) == {"CBP": {"cbp"}, "ICE": set()}


def test_orcon_match_is_told_to_its_originator_only() -> None:
    orcon = Handling(markings=[Marking.ORCON])
    tracked = from_lookout(lookout(originator=ICE, subjects=LADY_MARISOL, handling=orcon))
    planned = from_operation(operation(originator=CBP, targets=LADY_MARISOL))
    assert _delivered(tracked, planned) == {"CBP": set(), "ICE": {"ice"}}


def test_entries_survive_their_changelog_encoding() -> None:
    entry = from_operation(
        operation(
            originator=CBP,
            targets=LADY_MARISOL,
            place=OperationPlace(area_codes=["MIA"], latitude=25.7, longitude=-80.1, radius_km=9),
        )
    ).with_told("PLACE_AND_TIME:x")
    assert Entry.decode(entry.encode()) == entry


def test_every_notice_rule_decides_somewhere_and_not_everywhere() -> None:
    """Over the notices above, each rule of DECONFLICTION_RULE_IDS but the check's (the
    router's, tested against the broker) decides some recipient and not every one."""
    laredo = OperationPlace(area_codes=["LRT"])
    pairs: list[tuple[Lookout | Operation, Operation]] = [
        (
            lookout(originator=ICE, subjects=LADY_MARISOL),
            operation(originator=CBP, targets=LADY_MARISOL),
        ),
        (
            operation(originator=ICE, place=laredo, task_force="best-laredo"),
            operation(originator=CBP, place=laredo, handling=Handling(markings=[Marking.NOFORN])),
        ),
        (
            lookout(originator=CBP, subjects=Subjects(), pnr=pnr()),
            operation(originator=ICE, targets=Subjects(phones=["+49 30 5550 1234"])),
        ),
        (
            lookout(
                originator=ICE, subjects=LADY_MARISOL, handling=Handling(markings=[Marking.ORCON])
            ),
            operation(originator=CBP, targets=LADY_MARISOL),
        ),
    ]
    decided: list[tuple[str, ...]] = []
    for first, second in pairs:
        a = from_lookout(first) if isinstance(first, Lookout) else from_operation(first)
        b = from_operation(second)  # the second of each pair is an operation
        for conflict in _index(a).conflicts(b, NOW_MS):
            for notice in notices(b, conflict, NOW):
                decided += [notice_verdict(POLICY, notice, r).rules for r in RECIPIENTS]
    fired = {rule for rules in decided for rule in rules}
    assert fired >= set(DECONFLICTION_RULE_IDS) - {"deconfliction-check"}
    for rule in fired:
        assert any(rule not in rules for rules in decided)
