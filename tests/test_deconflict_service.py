"""The deconfliction service against the real broker: a match and a near-miss per identifier
type, place and time overlap, expiry, and the notices routed by the router under the NOFORN,
EU PNR and ORCON rules, each a decision in the policy log."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli import main
from intelbus.models import (
    Decision,
    DeconflictionCheck,
    DeconflictionMatch,
    DeconflictionNotice,
    EventKind,
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
from intelbus.topic_reader import read_to_end
from intelbus.waiting import wait_for
from producers.publisher import Publisher
from services.deconflict.progress import wait_until_deconflicted
from services.router.progress import wait_until_all_routed, wait_until_routed
from tests import factories
from tests.conftest import Bus
from tests.deconflict_helpers import (
    LADY_MARISOL,
    notices_of,
    operation,
    running_deconflictor,
)
from tests.policy_fixtures import RECIPIENTS, pnr
from tests.router_helpers import decisions_of, feed_of, running_router

ICE = factories.originator(agency="ICE", office="HSI Laredo", point_of_contact="SA Ortega")
CBP = factories.originator(agency="CBP", office="AMO Miami", point_of_contact="MIO Alvarez")


def _person(**fields: Any) -> Subjects:
    return Subjects(persons=[PersonIdentity(given_name="Ana", sur_name="Ruiz", **fields)])


def _vehicle(**fields: Any) -> Subjects:
    return Subjects(vehicles=[Vehicle(**fields)])


def _vessel(**fields: Any) -> Subjects:
    return Subjects(vessels=[Vessel(**fields)])


BORN = dt.date(1980, 2, 3)
# identifier type: (ICE's spelling, CBP's spelling of the same target, CBP's near-miss)
CASES: dict[str, tuple[Subjects, Subjects, Subjects]] = {
    "person.name-birth-date": (
        Subjects(persons=[PersonIdentity(given_name="José", sur_name="Pérez", birth_date=BORN)]),
        Subjects(persons=[PersonIdentity(given_name="PEREZ", sur_name="jose", birth_date=BORN)]),
        Subjects(
            persons=[
                PersonIdentity(
                    given_name="José", sur_name="Pérez", birth_date=BORN + dt.timedelta(days=1)
                )
            ]
        ),
    ),
    "person.passport": (
        _person(passport_number="X12-345678", passport_country="MX"),
        _person(passport_number="x12345678", passport_country="MX"),
        _person(passport_number="X12345678", passport_country="GT"),
    ),
    "person.a-number": (
        _person(alien_number="A12345678"),
        _person(alien_number="012345678"),
        _person(alien_number="A12345679"),
    ),
    "person.fbi-number": (
        _person(fbi_number="123456 AB1"),
        _person(fbi_number="123456-ab1"),
        _person(fbi_number="123456AB2"),
    ),
    "vehicle.plate": (
        _vehicle(plate="ABC-1O2", plate_jurisdiction="TX"),
        _vehicle(plate="abc 102", plate_jurisdiction="tx"),
        _vehicle(plate="ABC102", plate_jurisdiction="NM"),
    ),
    "vehicle.vin": (
        _vehicle(vin="1FTFW1ET5DFC10312"),
        _vehicle(vin="1FTFW1ET5DFC10312", plate="ZZZ999"),
        _vehicle(vin="1FTFW1ET5DFC10313"),
    ),
    "vessel.name": (
        _vessel(name="LADY MARISOL"),
        _vessel(name="M/V Lady Marisol"),
        _vessel(name="Lady Maria Sol"),
    ),
    "vessel.hull-id": (
        _vessel(hull_id="US-ABC12345D404"),
        _vessel(hull_id="abc12345d404"),
        _vessel(hull_id="ABC12345D405"),
    ),
    "vessel.imo": (
        _vessel(imo="IMO 9074729"),
        _vessel(imo="9074729"),
        _vessel(imo="9176187"),
    ),
    "vessel.mmsi": (
        _vessel(mmsi="366 123 456"),
        _vessel(mmsi="366123456"),
        _vessel(mmsi="366123457"),
    ),
    "phone": (
        Subjects(phones=["(956) 555-0142"]),
        Subjects(phones=["+1 956 555 0142"]),
        Subjects(phones=["+52 956 555 0142"]),
    ),
}


def _lookout(now: dt.datetime, **fields: Any) -> Lookout:
    times = {"issued_at": now - dt.timedelta(minutes=1), "valid_until": now + dt.timedelta(days=1)}
    return factories.lookout(**(times | fields))


def _operation(now: dt.datetime, **fields: Any) -> Operation:
    times = {
        "issued_at": now - dt.timedelta(minutes=1),
        "window_start": now + dt.timedelta(hours=1),
        "window_end": now + dt.timedelta(hours=9),
    }
    return operation(**(times | fields))


def _publish(bus: Bus, *records: Lookout | Operation) -> None:
    publisher = Publisher(bus.settings)
    publisher.publish_batch(publisher.encode(record) for record in records)


def _pairs(notices: list[DeconflictionNotice]) -> Counter[tuple[str, str, str, str | None]]:
    return Counter(
        (n.to_agency, n.your_event_id, n.other_event_id, n.identifier_type) for n in notices
    )


def test_a_match_and_a_near_miss_per_identifier_type(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    tracked = {
        kind: _lookout(now, originator=ICE, subjects=ice) for kind, (ice, _, _) in CASES.items()
    }
    planned = {
        kind: _operation(now, originator=CBP, targets=cbp) for kind, (_, cbp, _) in CASES.items()
    }
    missed = [_operation(now, originator=CBP, targets=miss) for _, _, miss in CASES.values()]
    with running_deconflictor(bus.settings):
        _publish(bus, *tracked.values())
        _publish(bus, *planned.values(), *missed)
        wait_until_deconflicted(bus.settings)
    expected: Counter[tuple[str, str, str, str | None]] = Counter()
    for kind in CASES:
        lookout_id, operation_id = tracked[kind].event_id, planned[kind].operation_id
        expected[("CBP", operation_id, lookout_id, kind)] += 1
        expected[("ICE", lookout_id, operation_id, kind)] += 1
    notices = notices_of(bus.settings, len(expected))
    assert _pairs(notices) == expected
    to_cbp = {n.your_event_id: n for n in notices if n.to_agency == "CBP"}
    assert {n.other_point_of_contact for n in to_cbp.values()} == {"SA Ortega"}


def test_operations_overlapping_in_place_and_time_and_not(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    laredo = OperationPlace(area_codes=["LRT"])
    mine = _operation(now, originator=ICE, place=laredo)
    overlapping = _operation(
        now,
        originator=CBP,
        place=OperationPlace(latitude=27.5, longitude=-99.5, radius_km=5, area_codes=["LRT"]),
    )
    elsewhere = _operation(now, originator=CBP, place=OperationPlace(area_codes=["DRT"]))
    later = _operation(
        now,
        originator=CBP,
        place=laredo,
        window_start=now + dt.timedelta(hours=9),  # when ICE's ends: no overlap
        window_end=now + dt.timedelta(hours=12),
    )
    with running_deconflictor(bus.settings):
        _publish(bus, mine)
        _publish(bus, overlapping, elsewhere, later)
        wait_until_deconflicted(bus.settings)
    notices = notices_of(bus.settings, 2)
    assert _pairs(notices) == Counter(
        {
            ("ICE", mine.operation_id, overlapping.operation_id, None): 1,
            ("CBP", overlapping.operation_id, mine.operation_id, None): 1,
        }
    )
    assert {n.match for n in notices} == {DeconflictionMatch.PLACE_AND_TIME}


def _history(bus: Bus, event_id: str) -> list[bytes | None]:
    """The changelog's records of one entry, oldest first (None: a tombstone)."""
    return [
        message.value()
        for message in read_to_end(bus.settings, bus.topics.deconflict_index)
        if (message.key() or b"").decode() == event_id
    ]


def _closed(bus: Bus, event_id: str) -> bool:
    history = _history(bus, event_id)
    return bool(history) and history[-1] is None


def test_entries_expire_with_the_lookouts_validity_and_the_operations_end(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    # Valid long enough to be indexed on a loaded machine, then it expires.
    short = _lookout(
        now, originator=ICE, subjects=LADY_MARISOL, valid_until=now + dt.timedelta(seconds=20)
    )
    ending = _operation(
        now,
        originator=ICE,
        place=OperationPlace(area_codes=["LRT"]),
        window_start=now - dt.timedelta(minutes=1),
        window_end=now + dt.timedelta(seconds=20),
    )
    with running_deconflictor(bus.settings):
        _publish(bus, short, ending)
        wait_until_deconflicted(bus.settings)
        for event_id in (short.event_id, ending.operation_id):
            wait_for(
                lambda event_id=event_id: _closed(bus, event_id),  # type: ignore[misc]
                timeout=90,
                what=f"{event_id} to expire",
            )
            assert _history(bus, event_id)[0] is not None  # indexed first, then closed
        late = _operation(
            dt.datetime.now(dt.UTC),
            originator=CBP,
            targets=LADY_MARISOL,
            place=OperationPlace(area_codes=["LRT"]),
        )
        _publish(bus, late)
        wait_until_deconflicted(bus.settings)
    assert notices_of(bus.settings, 0) == []


def test_notices_routed_under_noforn_eu_pnr_and_orcon_each_logged(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    laredo = OperationPlace(area_codes=["LRT"])
    # NOFORN: ICE's operation is run by BEST Laredo (a Mexican member): it is not told.
    task_force = _operation(now, originator=ICE, place=laredo, task_force="best-laredo")
    noforn = _operation(
        now, originator=CBP, place=laredo, handling=Handling(markings=[Marking.NOFORN])
    )
    # EU PNR: the phone number came from CBP's EU PNR: only CBP is told.
    pnr_lookout = _lookout(now, originator=CBP, subjects=Subjects(), pnr=pnr())
    by_phone = _operation(
        now,
        originator=ICE,
        targets=Subjects(phones=["+49 30 5550 1234"]),
        place=OperationPlace(area_codes=["MIA"]),
    )
    # ORCON: ICE's lookout is ORCON: only ICE is told, it decides.
    orcon = _lookout(
        now, originator=ICE, subjects=LADY_MARISOL, handling=Handling(markings=[Marking.ORCON])
    )
    boarding = _operation(
        now, originator=CBP, targets=LADY_MARISOL, place=OperationPlace(area_codes=["MIP"])
    )
    with running_router(bus.settings), running_deconflictor(bus.settings):
        _publish(bus, pnr_lookout, orcon)
        _publish(bus, task_force, noforn, by_phone, boarding)
        wait_until_all_routed(bus.settings)
        wait_until_deconflicted(bus.settings)
        wait_until_routed(bus.settings, ("officer-safety", bus.topics.deconflict_notices))
    notices = {(n.to_agency, n.your_event_id): n for n in notices_of(bus.settings, 6)}
    assert len(notices) == 6
    delivered: dict[str, set[str]] = {}
    for recipient in ("cbp", "ice", "best-laredo"):
        for topic in (bus.topics.feed(recipient), bus.topics.alerts(recipient)):
            for event_id, items in feed_of(bus.settings, [topic], 0).items():
                if any(i["type"] == "intelbus.DeconflictionNotice" for i in items):
                    delivered.setdefault(event_id, set()).add(f"{recipient}:{topic}")

    def where(agency: str, event_id: str) -> set[str]:
        return delivered.get(notices[(agency, event_id)].notice_id, set())

    assert where("CBP", noforn.operation_id) == {f"cbp:{bus.topics.alerts('cbp')}"}
    assert where("ICE", task_force.operation_id) == {f"ice:{bus.topics.alerts('ice')}"}
    assert where("CBP", pnr_lookout.event_id) == {f"cbp:{bus.topics.feed('cbp')}"}
    assert where("ICE", by_phone.operation_id) == set()
    assert where("ICE", orcon.event_id) == {f"ice:{bus.topics.feed('ice')}"}
    assert where("CBP", boarding.operation_id) == set()
    decisions = [
        d
        for d in decisions_of(bus.settings, bus.topics.decisions)
        if d.event_kind is EventKind.DECONFLICTION_NOTICE
    ]
    by_notice = Counter(d.event_id for d in decisions)
    assert by_notice == Counter({n.notice_id: len(RECIPIENTS) for n in notices.values()})
    rules = {(d.event_id, d.recipient): (d.decision, d.rules) for d in decisions}
    assert rules[(notices[("ICE", task_force.operation_id)].notice_id, "best-laredo")] == (
        Decision.DENY,
        ["deconfliction-noforn"],
    )
    assert rules[(notices[("ICE", by_phone.operation_id)].notice_id, "ice")] == (
        Decision.DENY,
        ["deconfliction-eu-pnr"],
    )
    assert rules[(notices[("CBP", boarding.operation_id)].notice_id, "cbp")] == (
        Decision.DENY,
        ["deconfliction-orcon"],
    )


def test_check_answers_the_asker_alone_and_is_logged(
    cli_env: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bus = cli_env
    now = dt.datetime.now(dt.UTC)
    tracked = _lookout(now, originator=ICE, subjects=LADY_MARISOL)
    orcon = _lookout(
        now,
        originator=ICE,
        subjects=_vessel(name="SEA WITCH"),
        handling=Handling(markings=[Marking.ORCON]),
    )
    question = DeconflictionCheck(
        check_id=f"chk-{uuid.uuid4()}",
        asked_at=now,
        asked_by=CBP,
        targets=Subjects(vessels=[Vessel(name="m/v lady marisol"), Vessel(name="Sea Witch")]),
        window_start=now,
        window_end=now + dt.timedelta(hours=6),
        purpose="boarding planned tonight",
    )
    asked = tmp_path / "check.json"
    asked.write_text(question.model_dump_json(by_alias=True))
    with running_router(bus.settings), running_deconflictor(bus.settings):
        _publish(bus, tracked, orcon)
        wait_until_deconflicted(bus.settings)
        assert main(["deconflict", "check", str(asked)]) == 0
        wait_until_routed(bus.settings, ("officer-safety", bus.topics.deconflict_notices))
    out = capsys.readouterr().out
    # LADY MARISOL: ICE's point of contact; SEA WITCH is ORCON: withheld from the asker.
    assert "call SA Ortega" in out
    assert tracked.event_id in out
    assert orcon.event_id not in out
    notices = notices_of(bus.settings, 2)
    assert {n.to_agency for n in notices} == {"CBP"}  # nobody else is told of a question
    decisions = decisions_of(bus.settings, bus.topics.decisions)
    asked_about = [d for d in decisions if d.event_id == question.check_id]
    assert len(asked_about) == len(RECIPIENTS)
    assert {tuple(d.rules) for d in asked_about} == {("deconfliction-check",)}
    assert all("boarding planned tonight" in d.reason for d in asked_about)
