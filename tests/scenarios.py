"""One scenario per rule of the brief, each with what every recipient must get.

Recipients (policies/recipients.yaml): cbp and ice (DHS, nationwide, all categories);
best-laredo (LRT/2304; ICE, CBP, DHS I&A, DEA, Texas DPS, Laredo PD, Mexico);
jttf-miami (MIP/5201; FBI, CBP, ICE, Miami-Dade PD); ibet-blaine (BLW/3004; with Canada).

The same table drives the engine's unit tests and the router's broker test; the expected
views are computed here from the models, independently of the redaction code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from intelbus.models import (
    AuthorizationKind,
    Category,
    Component,
    DeclaredPurpose,
    DisclosureAuthorization,
    Handling,
    Location,
    Lookout,
    Marking,
    PersonIdentity,
    PnrSourceRegion,
    Subjects,
    Tlp,
)
from intelbus.policy.engine import Event
from tests import factories
from tests.policy_fixtures import authorization, pnr

_ALL = ("cbp", "ice", "best-laredo", "jttf-miami", "ibet-blaine")
MASKED = [
    "pnr.passengerNames",
    "pnr.contactData",
    "pnr.generalRemarks",
    "pnr.apiData",
]


@dataclass(frozen=True)
class Expect:
    decision: str
    rules: list[str]
    removed: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)


DENY_AREA = Expect("deny", ["dhs-need-to-know"])
DENY_ALERT_AREA = Expect("deny", ["officer-safety"])


@dataclass(frozen=True)
class Scenario:
    name: str
    event: Event
    expect: dict[str, Expect]
    authorizations: tuple[DisclosureAuthorization, ...] = ()


def _auth(
    kind: AuthorizationKind, recipient: str, case: str, **overrides: Any
) -> DisclosureAuthorization:
    return authorization(
        kind,
        recipient,
        authorization_id=f"auth-{kind.value.lower()}-{recipient}-{case}",
        case_reference=case,
        **overrides,
    )


def scenarios(now: dt.datetime, tag: str = "") -> list[Scenario]:
    """Every scenario, with times around ``now`` and event ids/cases suffixed by ``tag``."""
    times = {"issued_at": now - dt.timedelta(hours=1), "valid_until": now + dt.timedelta(days=30)}
    auth_times = {
        "granted_at": now - dt.timedelta(days=1),
        "valid_from": now - dt.timedelta(days=1),
        "valid_until": now + dt.timedelta(days=30),
    }

    def lookout(name: str, **overrides: Any) -> Lookout:
        return factories.lookout(event_id=f"{name}{tag}", **(times | overrides))

    def pnr_lookout(name: str, **overrides: Any) -> Lookout:
        fields: dict[str, Any] = {
            "category": Category.TERRORIST_THREAT,
            "declared_purpose": DeclaredPurpose.TERRORISM,
            "areas": ["MIP"],
            "case_reference": f"CASE-{name}{tag}",
            "pnr": pnr(loaded_at=now - dt.timedelta(days=3), sensitive=[]),
        }
        return lookout(name, **(fields | overrides))

    def auth(
        kind: AuthorizationKind, recipient: str, name: str, **overrides: Any
    ) -> DisclosureAuthorization:
        return _auth(kind, recipient, f"CASE-{name}{tag}", **(auth_times | overrides))

    ice_hsi = factories.originator(agency="ICE", component=Component.HSI, office="HSI Laredo")
    fbi = factories.originator(agency="FBI", component=Component.OTHER, office="FBI San Antonio")
    orcon = Handling(markings=[Marking.LES, Marking.ORCON])
    alert_times = {
        "issued_at": now - dt.timedelta(minutes=5),
        "window_start": now - dt.timedelta(minutes=5),
        "window_end": now + dt.timedelta(hours=12),
    }
    eu_resident = Subjects(
        persons=[PersonIdentity(given_name="Karim", sur_name="Haddad", eu_resident=True)]
    )

    glass = auth(AuthorizationKind.SENSITIVE_BREAK_GLASS, "cbp", "glass")
    disclose_ice = auth(AuthorizationKind.DISCLOSURE, "ice", "authorized")
    disclose_ice_immigration = auth(
        AuthorizationKind.DISCLOSURE,
        "ice",
        "purpose",
        purpose=DeclaredPurpose.IMMIGRATION_ENFORCEMENT,
    )
    old_disclose = auth(AuthorizationKind.DISCLOSURE, "ice", "old")
    old_repersonalize = auth(AuthorizationKind.REPERSONALIZATION, "ice", "old")
    ibet_disclose = auth(AuthorizationKind.DISCLOSURE, "ibet-blaine", "foreign")
    ibet_disclose2 = auth(AuthorizationKind.DISCLOSURE, "ibet-blaine", "transfer")
    ibet_transfer = auth(AuthorizationKind.FOREIGN_TRANSFER, "ibet-blaine", "transfer")

    return [
        Scenario(
            "plain",
            lookout("plain"),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know"]),
                "ice": Expect("deliver", ["dhs-need-to-know"]),
                "best-laredo": Expect("deliver", []),
                "jttf-miami": DENY_AREA,
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "expired",
            lookout(
                "expired",
                issued_at=now - dt.timedelta(days=40),
                valid_until=now - dt.timedelta(days=10),
            ),
            {r: Expect("deny", ["expiry"]) for r in _ALL},
        ),
        Scenario(
            "eu-pnr",
            pnr_lookout("eu-pnr", pnr=pnr(loaded_at=now - dt.timedelta(days=3))),
            {
                "cbp": Expect(
                    "deliver-redacted",
                    ["dhs-need-to-know", "eu-pnr-primary", "eu-pnr-sensitive"],
                    ["pnr.sensitive"],
                ),
                "ice": Expect(
                    "deliver-redacted", ["dhs-need-to-know", "eu-pnr-third-party"], ["pnr"]
                ),
                "best-laredo": DENY_AREA,
                "jttf-miami": Expect("deliver-redacted", ["eu-pnr-third-party"], ["pnr"]),
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "glass",
            pnr_lookout("glass", pnr=pnr(loaded_at=now - dt.timedelta(days=3))),
            {
                "cbp": Expect(
                    "deliver",
                    ["dhs-need-to-know", "eu-pnr-primary", "eu-pnr-sensitive"],
                    authorizations=[glass.authorization_id],
                ),
                "ice": Expect(
                    "deliver-redacted", ["dhs-need-to-know", "eu-pnr-third-party"], ["pnr"]
                ),
                "best-laredo": DENY_AREA,
                "jttf-miami": Expect("deliver-redacted", ["eu-pnr-third-party"], ["pnr"]),
                "ibet-blaine": DENY_AREA,
            },
            (glass,),
        ),
        Scenario(
            "authorized",
            pnr_lookout("authorized"),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know", "eu-pnr-primary"]),
                "ice": Expect(
                    "deliver",
                    ["dhs-need-to-know", "eu-pnr-third-party"],
                    authorizations=[disclose_ice.authorization_id],
                ),
                "best-laredo": DENY_AREA,
                "jttf-miami": Expect("deliver-redacted", ["eu-pnr-third-party"], ["pnr"]),
                "ibet-blaine": DENY_AREA,
            },
            (disclose_ice,),
        ),
        Scenario(
            "purpose",
            pnr_lookout(
                "purpose",
                category=Category.BE_ON_LOOKOUT,
                declared_purpose=DeclaredPurpose.IMMIGRATION_ENFORCEMENT,
            ),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know", "eu-pnr-primary"]),
                "ice": Expect("deliver-redacted", ["dhs-need-to-know", "eu-pnr-purpose"], ["pnr"]),
                "best-laredo": DENY_AREA,
                "jttf-miami": Expect("deliver-redacted", ["eu-pnr-purpose"], ["pnr"]),
                "ibet-blaine": DENY_AREA,
            },
            (disclose_ice_immigration,),
        ),
        Scenario(
            "old",
            pnr_lookout("old", pnr=pnr(loaded_at=now - dt.timedelta(days=200), sensitive=[])),
            {
                "cbp": Expect(
                    "deliver-redacted",
                    ["dhs-need-to-know", "eu-pnr-primary", "eu-pnr-depersonalize"],
                    MASKED,
                ),
                "ice": Expect(
                    "deliver",
                    ["dhs-need-to-know", "eu-pnr-third-party", "eu-pnr-depersonalize"],
                    authorizations=[
                        old_disclose.authorization_id,
                        old_repersonalize.authorization_id,
                    ],
                ),
                "best-laredo": DENY_AREA,
                "jttf-miami": Expect("deliver-redacted", ["eu-pnr-third-party"], ["pnr"]),
                "ibet-blaine": DENY_AREA,
            },
            (old_disclose, old_repersonalize),
        ),
        Scenario(
            "foreign",
            pnr_lookout("foreign", areas=["BLW"], subjects=eu_resident),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know", "eu-pnr-primary"]),
                "ice": Expect(
                    "deliver-redacted", ["dhs-need-to-know", "eu-pnr-third-party"], ["pnr"]
                ),
                "best-laredo": DENY_AREA,
                "jttf-miami": DENY_AREA,
                "ibet-blaine": Expect(
                    "deliver-redacted", ["eu-pnr-foreign", "most-restrictive"], ["pnr"]
                ),
            },
            (ibet_disclose,),
        ),
        Scenario(
            "transfer",
            pnr_lookout("transfer", areas=["BLW"], subjects=eu_resident),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know", "eu-pnr-primary"]),
                "ice": Expect(
                    "deliver-redacted", ["dhs-need-to-know", "eu-pnr-third-party"], ["pnr"]
                ),
                "best-laredo": DENY_AREA,
                "jttf-miami": DENY_AREA,
                "ibet-blaine": Expect(
                    "deliver",
                    ["eu-pnr-foreign", "eu-pnr-third-party"],
                    authorizations=[
                        ibet_transfer.authorization_id,
                        ibet_disclose2.authorization_id,
                    ],
                    notifications=["eu-member-state-notification"],
                ),
            },
            (ibet_disclose2, ibet_transfer),
        ),
        Scenario(
            "orcon",
            lookout("orcon", originator=ice_hsi, category=Category.GANG_LOOKOUT, handling=orcon),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know"]),
                "ice": Expect("deliver", ["dhs-need-to-know"]),
                "best-laredo": Expect("pointer", ["third-agency", "most-restrictive"]),
                "jttf-miami": DENY_AREA,
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "consent",
            lookout(
                "consent",
                originator=ice_hsi,
                category=Category.GANG_LOOKOUT,
                handling=Handling(
                    markings=[Marking.LES, Marking.ORCON], approved_recipients=["best-laredo"]
                ),
            ),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know"]),
                "ice": Expect("deliver", ["dhs-need-to-know"]),
                "best-laredo": Expect("deliver", ["third-agency"]),
                "jttf-miami": DENY_AREA,
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "orcon-fbi",
            lookout("orcon-fbi", originator=fbi, category=Category.GANG_LOOKOUT, handling=orcon),
            {
                # ORCON binds whoever originated it: DHS is outside the FBI's department.
                "cbp": Expect("pointer", ["dhs-need-to-know", "third-agency"]),
                "ice": Expect("pointer", ["dhs-need-to-know", "third-agency"]),
                "best-laredo": Expect("pointer", ["third-agency", "most-restrictive"]),
                "jttf-miami": DENY_AREA,
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "tlp-red",
            lookout(
                "tlp-red",
                handling=Handling(
                    markings=[Marking.LES], tlp=Tlp.RED, approved_recipients=["best-laredo"]
                ),
            ),
            {
                "cbp": Expect("deny", ["dhs-need-to-know", "tlp"]),
                "ice": Expect("deny", ["dhs-need-to-know", "tlp"]),
                "best-laredo": Expect("deliver", ["tlp"]),
                "jttf-miami": DENY_AREA,
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "tlp-strict",
            lookout(
                "tlp-strict",
                originator=ice_hsi,
                handling=Handling(markings=[Marking.LES], tlp=Tlp.AMBER_STRICT),
            ),
            {
                "cbp": Expect("deny", ["dhs-need-to-know", "tlp"]),
                "ice": Expect("deliver", ["dhs-need-to-know"]),
                "best-laredo": Expect("deny", ["tlp", "most-restrictive"]),
                "jttf-miami": DENY_AREA,
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "eu-by-route",
            pnr_lookout(
                "eu-by-route",
                pnr=pnr(
                    source_region=PnrSourceRegion.OTHER,
                    route=["FRA", "JFK"],
                    loaded_at=now - dt.timedelta(days=3),
                    sensitive=[],
                ),
            ),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know", "eu-pnr-scope", "eu-pnr-primary"]),
                "ice": Expect(
                    "deliver-redacted",
                    ["dhs-need-to-know", "eu-pnr-scope", "eu-pnr-third-party"],
                    ["pnr"],
                ),
                "best-laredo": DENY_AREA,
                "jttf-miami": Expect(
                    "deliver-redacted", ["eu-pnr-scope", "eu-pnr-third-party"], ["pnr"]
                ),
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "sensitive-remarks",
            pnr_lookout(
                "sensitive-remarks",
                pnr=pnr(
                    loaded_at=now - dt.timedelta(days=3),
                    sensitive=[],
                    general_remarks=["OSI LH TCP2", "SSR MOML LH HK1 FRAJFK muslim meal"],
                ),
            ),
            {
                "cbp": Expect(
                    "deliver-redacted",
                    ["dhs-need-to-know", "eu-pnr-primary", "eu-pnr-sensitive"],
                    ["pnr.generalRemarks.1"],
                ),
                "ice": Expect(
                    "deliver-redacted", ["dhs-need-to-know", "eu-pnr-third-party"], ["pnr"]
                ),
                "best-laredo": DENY_AREA,
                "jttf-miami": Expect("deliver-redacted", ["eu-pnr-third-party"], ["pnr"]),
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "noforn",
            lookout(
                "noforn",
                category=Category.TERRORIST_THREAT,
                areas=["BLW"],
                handling=Handling(markings=[Marking.LES, Marking.NOFORN]),
            ),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know"]),
                "ice": Expect("deliver", ["dhs-need-to-know"]),
                "best-laredo": DENY_AREA,
                "jttf-miami": DENY_AREA,
                "ibet-blaine": Expect("deny", ["noforn", "most-restrictive"]),
            },
        ),
        Scenario(
            "composite",
            lookout(
                "composite",
                originator=ice_hsi,
                category=Category.NARCOTICS,
                handling=Handling(markings=[Marking.LES, Marking.ORCON, Marking.NOFORN]),
            ),
            {
                "cbp": Expect("deliver", ["dhs-need-to-know"]),
                "ice": Expect("deliver", ["dhs-need-to-know"]),
                "best-laredo": Expect("deny", ["noforn", "most-restrictive"]),
                "jttf-miami": DENY_AREA,
                "ibet-blaine": DENY_AREA,
            },
        ),
        Scenario(
            "unknown-marking",
            lookout("unknown-marking", handling=Handling(markings=[Marking.LES, Marking.UNKNOWN])),
            {r: Expect("deny", ["fail-closed"]) for r in _ALL},
        ),
        Scenario(
            "alert",
            factories.alert(event_id=f"alert{tag}", **alert_times),
            {
                "cbp": Expect("deliver", ["officer-safety"]),
                "ice": Expect("deliver", ["officer-safety"]),
                "best-laredo": Expect("deliver", ["officer-safety"]),
                "jttf-miami": DENY_ALERT_AREA,
                "ibet-blaine": DENY_ALERT_AREA,
            },
        ),
        Scenario(
            "alert-orcon",
            factories.alert(
                event_id=f"alert-orcon{tag}",
                handling=orcon,
                location=Location(place_name="Zapata", area_code="LRT"),
                **alert_times,
            ),
            {
                "cbp": Expect("deliver", ["officer-safety"]),
                "ice": Expect("deliver", ["officer-safety"]),
                "best-laredo": Expect(
                    "pointer", ["officer-safety", "third-agency", "most-restrictive"]
                ),
                "jttf-miami": DENY_ALERT_AREA,
                "ibet-blaine": DENY_ALERT_AREA,
            },
        ),
    ]


def expected_view(event: Event, removed: list[str]) -> Event:
    """What a redacted delivery must hold, built from the model (not the redaction code)."""
    if "pnr" in removed:
        assert isinstance(event, Lookout)
        return event.model_copy(update={"pnr": None})
    if not isinstance(event, Lookout) or event.pnr is None:
        return event
    update: dict[str, Any] = {}
    if "pnr.sensitive" in removed:
        update["sensitive"] = []
    remarks = list(event.pnr.general_remarks)
    for path in removed:
        if path.startswith("pnr.generalRemarks."):  # one sensitive remark masked
            remarks[int(path.rpartition(".")[2])] = "[masked]"
    update["general_remarks"] = remarks
    for path in MASKED:
        if path in removed:
            attribute = {
                "pnr.passengerNames": "passenger_names",
                "pnr.contactData": "contact_data",
                "pnr.generalRemarks": "general_remarks",
                "pnr.apiData": "api_data",
            }[path]
            update[attribute] = ["[masked]"] * len(getattr(event.pnr, attribute))
    return event.model_copy(update={"pnr": event.pnr.model_copy(update=update)})
