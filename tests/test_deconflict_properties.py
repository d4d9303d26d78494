"""Property test: a deconfliction notice never carries content of the other party's event
beyond the listed fields (its agency, point of contact, event id and the matched identifier's
type; the handling flags the rules need).

Random lookouts and operations of two agencies share one random target and carry a secret
token everywhere else (narrative, case reference, office, names, aliases, other identifiers,
the place's description, the PNR); whatever they hold, the notices of their conflict hold
no secret token, no identifier value, only the listed fields, and the same notices come out
when everything but the listed fields of the other event changes.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intelbus.deconflict.entries import from_lookout, from_operation
from intelbus.deconflict.index import Index
from intelbus.deconflict.notices import notices
from intelbus.models import (
    DeconflictionNotice,
    Handling,
    Lookout,
    Marking,
    Operation,
    OperationPlace,
    PersonIdentity,
    Subjects,
    Vehicle,
    Vessel,
)
from tests import factories
from tests.deconflict_helpers import operation
from tests.policy_fixtures import pnr

NOW = factories.NOW
LISTED = {
    "noticeId",
    "match",
    "noticedAt",
    "toAgency",
    "toTaskForce",
    "yourEventId",
    "otherAgency",
    "otherPointOfContact",
    "otherEventId",
    "identifierType",
    "markings",
    "orconAgencies",
    "fromEuPnr",
}
SECRET = "SECRETQZX"  # never a word of the listed fields below

suffixes = st.text("ABCDEFGHJKLMNPRSTUVWXYZ", min_size=4, max_size=8)
shared_targets = st.sampled_from(
    [
        Subjects(vessels=[Vessel(name="LADY MARISOL")]),
        Subjects(vessels=[Vessel(imo="9074729")]),
        Subjects(vehicles=[Vehicle(vin="1FTFW1ET5DFC10312")]),
        Subjects(vehicles=[Vehicle(plate="ABC102", plate_jurisdiction="TX")]),
        Subjects(phones=["+1 956 555 0142"]),
        Subjects(
            persons=[PersonIdentity(given_name="Ana", sur_name="Ruiz", alien_number="A12345678")]
        ),
    ]
)
markings = st.lists(st.sampled_from([Marking.LES, Marking.FOUO, Marking.ORCON, Marking.NOFORN]))


def _secret_subjects(token: str, target: Subjects) -> Subjects:
    """The shared target, and secret persons, vessels and vehicles besides it."""
    person = PersonIdentity(
        given_name=token, sur_name=token, aliases=[token], fbi_number=token + "1"
    )
    return Subjects(
        persons=[*target.persons, person],
        vehicles=[*target.vehicles, Vehicle(plate=token, description=token)],
        vessels=[*target.vessels, Vessel(name=token, hull_id=token)],
        phones=target.phones,
    )


def _token(agency: str, suffix: str) -> str:
    # Each agency's secrets differ: they never match each other as identifiers.
    return f"{SECRET}{agency}{suffix}"


def _originator(agency: str, token: str) -> Any:
    return factories.originator(agency=agency, office=token, point_of_contact="POC " + agency)


@st.composite
def lookouts(draw: st.DrawFn, target: Subjects, agency: str) -> Lookout:
    token = _token(agency, draw(suffixes))
    return factories.lookout(
        originator=_originator(agency, token),
        subjects=_secret_subjects(token, target),
        narrative=token,
        case_reference=token,
        handling=Handling(markings=draw(markings)),
        pnr=draw(st.none() | st.just(pnr(analysis=token, general_remarks=[token]))),
    )


@st.composite
def operations(draw: st.DrawFn, target: Subjects, agency: str) -> Operation:
    token = _token(agency, draw(suffixes))
    return operation(
        originator=_originator(agency, token),
        targets=_secret_subjects(token, target),
        case_reference=token,
        place=OperationPlace(area_codes=["LRT", token], description=token),
        task_force=draw(st.none() | st.just("best-laredo")),
        handling=Handling(markings=draw(markings)),
    )


KINDS = (lookouts, operations)


def _draw(data: st.DataObject, kind: Any, target: Subjects, agency: str) -> Lookout | Operation:
    event = data.draw(kind(target, agency))
    assert isinstance(event, Lookout | Operation)
    return event


def _entry(event: Lookout | Operation) -> Any:
    return from_lookout(event) if isinstance(event, Lookout) else from_operation(event)


def _notices(first: Lookout | Operation, second: Lookout | Operation) -> list[DeconflictionNotice]:
    index = Index()
    index.put(_entry(first))
    new = _entry(second)
    found = []
    for conflict in index.conflicts(new, int(NOW.timestamp() * 1000)):
        found += notices(new, conflict, NOW)
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), target=shared_targets)
def test_no_notice_carries_content_beyond_the_listed_fields(
    data: st.DataObject, target: Subjects
) -> None:
    first = _draw(data, data.draw(st.sampled_from(KINDS)), target, "ICE")
    second = _draw(data, data.draw(st.sampled_from(KINDS)), target, "CBP")
    found = _notices(first, second)
    assert found, "a shared target always conflicts"
    for notice in found:
        wire = notice.to_avro()
        assert set(wire) == LISTED
        text = json.dumps(wire, default=str)
        assert SECRET not in text
        # No identifier value either: the type says what matched, never what it is.
        for value in (
            "LADY MARISOL",
            "9074729",
            "1FTFW1ET5DFC10312",
            "ABC102",
            "5550142",
            "12345678",
        ):
            assert value not in text
        assert notice.other_point_of_contact in ("POC ICE", "POC CBP")

    # Everything but the listed fields of the first event changes: the notices do not.
    other = _draw(data, lookouts if isinstance(first, Lookout) else operations, target, "ICE")
    assert _notices(_keeping_listed(other, first), second) == found


def _keeping_listed(changed: Lookout | Operation, first: Lookout | Operation) -> Any:
    """``changed`` with the fields of ``first`` that a notice may reflect: its id, its
    handling, whether it carries EU PNR, its task force (and its agency and point of
    contact, the same for every event of an agency here)."""
    update: dict[str, Any] = {"handling": first.handling}
    if isinstance(first, Lookout):
        assert isinstance(changed, Lookout)
        update["event_id"] = first.event_id
        update["pnr"] = None if first.pnr is None else pnr(analysis=changed.narrative)
    else:
        assert isinstance(changed, Operation)
        update["operation_id"] = first.operation_id
        update["task_force"] = first.task_force
    return changed.model_copy(update=update)
