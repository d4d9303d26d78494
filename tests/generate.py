"""Seeded, realistic events: sizes and field mixes like the examples.

About a quarter of lookouts carry EU PNR (some with sensitive items, some loaded more than
6 months ago), some are ORCON or NOFORN, and officer-safety alerts are spread over sectors.

    python -m tests.generate lookout --count 100000 --seed 7 > lookouts.ndjson
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from collections.abc import Iterator

from intelbus.models import (
    Category,
    Component,
    DeclaredPurpose,
    Handling,
    Location,
    Lookout,
    Marking,
    OfficerSafetyAlert,
    Originator,
    PersonIdentity,
    PnrExtract,
    PnrSourceRegion,
    Priority,
    SensitiveCategory,
    SensitivePnrItem,
    Subjects,
    ThreatLevel,
    Tlp,
    Vehicle,
    Vessel,
)

__all__ = ["alerts", "lookouts"]

AREAS = ["LRT", "2304", "MIP", "5201", "BLW", "3004", "RGV", "TCA", "SDC", "ELP"]
PLACES = {
    "LRT": (27.5, -99.5, "Laredo Sector"),
    "MIP": (25.8, -80.2, "Miami Sector"),
    "BLW": (48.99, -122.75, "Blaine Sector"),
    "RGV": (26.2, -98.2, "Rio Grande Valley Sector"),
    "TCA": (31.9, -111.0, "Tucson Sector"),
}
GIVEN = ["Ana", "Luis", "Karim", "Sofia", "Viktor", "Mei", "Omar", "Julia", "Diego", "Amara"]
SUR = ["Ruiz", "Haddad", "Cardenas", "Lindqvist", "Okafor", "Chen", "Novak", "Silva", "Moreau"]
COUNTRIES = ["MX", "DE", "CO", "FR", "NO", "CN", "NG", "BR", "GT", "HN", "ES", "IT"]
OFFICES = [
    ("CBP", Component.NTC, "National Targeting Center"),
    ("CBP", Component.OFO, "OFO Laredo Field Office"),
    ("CBP", Component.USBP, "Laredo Sector Intelligence Unit"),
    ("CBP", Component.AMO, "AMO Miami Air and Marine Branch"),
    ("ICE", Component.HSI, "HSI Miami"),
    ("ICE", Component.HSI, "HSI Laredo"),
    ("ICE", Component.ERO, "ERO Seattle"),
]


def _originator(rng: random.Random) -> Originator:
    agency, component, office = rng.choice(OFFICES)
    return Originator(
        agency=agency,
        component=component,
        office=office,
        point_of_contact=f"Duty officer, {office}, +1 202 555 {rng.randint(100, 999):04d}",
    )


def _person(rng: random.Random) -> PersonIdentity:
    country = rng.choice(COUNTRIES)
    return PersonIdentity(
        given_name=rng.choice(GIVEN),
        sur_name=rng.choice(SUR),
        aliases=[rng.choice(GIVEN)] if rng.random() < 0.3 else [],
        birth_date=dt.date(1960, 1, 1) + dt.timedelta(days=rng.randint(0, 16000)),
        citizenship_country=country,
        passport_number=f"{rng.choice('CKNPX')}{rng.randint(10**7, 10**8 - 1)}",
        passport_country=country,
        eu_resident=country in {"DE", "FR", "ES", "IT"},
    )


def _subjects(rng: random.Random) -> Subjects:
    persons = [_person(rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    vehicles = (
        [
            Vehicle(
                plate=f"{rng.randint(100, 999)}-{rng.choice('ABCDEFGH')}KX", plate_jurisdiction="TX"
            )
        ]
        if rng.random() < 0.3
        else []
    )
    vessels = (
        [Vessel(name="SEA WIND", hull_id=f"FL{rng.randint(1000, 9999)}MX")]
        if rng.random() < 0.1
        else []
    )
    return Subjects(persons=persons, vehicles=vehicles, vessels=vessels)


def _pnr(rng: random.Random, issued: dt.datetime) -> PnrExtract:
    old = rng.random() < 0.15
    loaded = issued - dt.timedelta(days=rng.randint(200, 400) if old else rng.randint(1, 30))
    sensitive = (
        [SensitivePnrItem(category=SensitiveCategory.HEALTH, code="WCHR", text="SSR WCHR")]
        if rng.random() < 0.3
        else []
    )
    return PnrExtract(
        source_region=PnrSourceRegion.EU if rng.random() < 0.8 else PnrSourceRegion.OTHER,
        loaded_at=loaded,
        record_locator="".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6)),
        carrier_code=rng.choice(["LH", "AF", "IB", "KL", "BA"]),
        flight_number=f"{rng.randint(100, 999)}",
        route=[rng.choice(["FRA", "CDG", "MAD", "AMS"]), rng.choice(["MIA", "JFK", "IAH", "SEA"])],
        passenger_names=["DOE/JOHN MR"],
        contact_data=["+49 30 5550 1234"],
        general_remarks=["OSI YY CTCM 4930555012", "SSR DOCS YY HK1"],
        api_data=["P/DEU/C12345678/DEU/01JAN90/M"],
        sensitive=sensitive,
        analysis="Short-notice one-way booking paid in cash." if rng.random() < 0.5 else None,
    )


def _now() -> dt.datetime:
    # Times are relative to now so that generated events are never expired; the rest is seeded.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def lookouts(count: int, seed: int = 7) -> Iterator[Lookout]:
    rng = random.Random(seed)
    base = _now()
    for index in range(count):
        issued = base - dt.timedelta(minutes=rng.randint(0, 60 * 24 * 30))
        markings = [Marking.LES]
        roll = rng.random()
        if roll < 0.15:
            markings.append(Marking.ORCON)
        elif roll < 0.20:
            markings.append(Marking.NOFORN)
        yield Lookout(
            event_id=f"gen-lk-{seed}-{index}",
            issued_at=issued,
            valid_until=base + dt.timedelta(days=rng.randint(30, 365)),
            originator=_originator(rng),
            category=rng.choice([c for c in Category if c is not Category.OTHER]),
            priority=Priority.URGENT if rng.random() < 0.2 else Priority.ROUTINE,
            declared_purpose=rng.choice(list(DeclaredPurpose)),
            subjects=_subjects(rng),
            narrative="Subject linked to a smuggling organization; refer to secondary inspection "
            "and notify the originating office before any enforcement action. " * rng.randint(1, 3),
            areas=rng.sample(AREAS, rng.randint(1, 2)),
            case_reference=f"CASE-{rng.randint(1000, 9999)}" if rng.random() < 0.6 else None,
            handling=Handling(markings=markings, tlp=rng.choice([Tlp.AMBER, Tlp.GREEN, Tlp.RED])),
            pnr=_pnr(rng, issued) if rng.random() < 0.25 else None,
        )


def alerts(count: int, seed: int = 7) -> Iterator[OfficerSafetyAlert]:
    rng = random.Random(seed + 1)
    base = _now()
    for index in range(count):
        area = rng.choice(list(PLACES))
        lat, lon, name = PLACES[area]
        start = base - dt.timedelta(minutes=rng.randint(0, 600))
        yield OfficerSafetyAlert(
            event_id=f"gen-os-{seed}-{index}",
            issued_at=start,
            window_start=start,
            window_end=base + dt.timedelta(hours=rng.randint(6, 72)),
            originator=_originator(rng),
            threat_level=rng.choice(list(ThreatLevel)),
            location=Location(
                latitude=lat + rng.uniform(-0.5, 0.5),
                longitude=lon + rng.uniform(-0.5, 0.5),
                place_name=f"{name}, grid {rng.randint(1, 99)}",
                area_code=area,
            ),
            subjects=_subjects(rng) if rng.random() < 0.5 else Subjects(),
            armed_and_dangerous=rng.random() < 0.4,
            narrative="Operation underway with plain-clothes agents; contact the originator "
            "before approaching.",
            handling=Handling(markings=[Marking.LES]),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kind", choices=["lookout", "alert"])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    records = (
        lookouts(args.count, args.seed) if args.kind == "lookout" else alerts(args.count, args.seed)
    )
    for record in records:
        sys.stdout.write(record.model_dump_json(by_alias=True) + "\n")


if __name__ == "__main__":
    main()
