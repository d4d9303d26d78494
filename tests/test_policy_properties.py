"""Property test of the sharing rules over random events, recipients and authorizations.

Whatever the event and the authorizations, no EU PNR field (EU by its label or by an EU/EEA
airport on its route), no sensitive PNR item or sensitive remark, no non-depersonalized old
PNR, no NOFORN content, no ORCON content without its originator's consent (whoever the
originator) and nothing beyond its TLP audience reaches a recipient not entitled to it, and
every (event, recipient) pair gets exactly one decision. Entitlement is computed here by an
oracle written from the brief, not by the engine's code (it has its own airport table).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intelbus.models import (
    AuthorizationKind,
    Category,
    Decision,
    DeclaredPurpose,
    DisclosureAuthorization,
    Handling,
    Lookout,
    Marking,
    PersonIdentity,
    PnrExtract,
    PnrSourceRegion,
    Pointer,
    SensitiveCategory,
    SensitivePnrItem,
    Subjects,
    Tlp,
)
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import PolicyEngine
from tests import factories
from tests.policy_fixtures import AT, POLICY, RECIPIENTS, pnr, safeguards

PERMITTED = {
    DeclaredPurpose.TERRORISM,
    DeclaredPurpose.SERIOUS_TRANSNATIONAL_CRIME,
    DeclaredPurpose.SERIOUS_THREAT_TO_LIFE,
}
CASES = ["C1", "C2"]
# The oracle's own airport table: EU and EEA members, and others (GB left the EU).
AIRPORTS = {
    "FRA": "DE", "CDG": "FR", "AMS": "NL", "OSL": "NO", "KEF": "IS",
    "JFK": "US", "MIA": "US", "YVR": "CA", "MEX": "MX", "LHR": "GB", "IST": "TR",
}  # fmt: skip
EU_EEA = {"DE", "FR", "NL", "NO", "IS"}
PLAIN_REMARKS = ["OSI LH TCP2", "SSR DOCS LH HK1 P/DEU", "OSI YY CTCM 4930555"]
SENSITIVE_REMARKS = [
    "SSR MOML LH HK1 FRAJFK muslim meal",
    "SSR WCHR LH NN1",
    "OSI pax keeps kosher",
    "OSI traveling for Trade Union congress",
]
AGENCIES = ["CBP", "ICE", "FBI"]


@st.composite
def events(draw: st.DrawFn) -> Lookout:
    # Weighted towards EU PNR (labelled, or only by its route), so that the PNR rules are
    # exercised in most examples.
    region = draw(
        st.sampled_from([None, PnrSourceRegion.EU, PnrSourceRegion.OTHER, PnrSourceRegion.OTHER])
    )
    extract = None
    if region is not None:
        sensitive = draw(st.booleans())
        extract = pnr(
            source_region=region,
            loaded_at=AT - dt.timedelta(days=draw(st.integers(0, 400))),
            route=draw(st.lists(st.sampled_from(sorted(AIRPORTS)), min_size=1, max_size=3)),
            general_remarks=draw(
                st.lists(st.sampled_from(PLAIN_REMARKS + SENSITIVE_REMARKS), max_size=3)
            ),
            analysis=draw(st.sampled_from([None, "cash, one-way", SENSITIVE_REMARKS[2]])),
            sensitive=[SensitivePnrItem(category=SensitiveCategory.HEALTH, code="WCHR")]
            if sensitive
            else [],
        )
    expired = draw(st.booleans()) and draw(st.booleans())
    issued = AT - dt.timedelta(days=60)
    return factories.lookout(
        event_id=draw(st.sampled_from(["E1", "E2"])),
        issued_at=issued,
        valid_until=AT - dt.timedelta(days=1) if expired else AT + dt.timedelta(days=1),
        originator=factories.originator(agency=draw(st.sampled_from(AGENCIES))),
        category=draw(st.sampled_from(list(Category))),
        declared_purpose=draw(st.sampled_from(list(DeclaredPurpose))),
        areas=draw(st.lists(st.sampled_from(["LRT", "MIP", "BLW", "2304", "RGV"]), max_size=2)),
        case_reference=draw(st.sampled_from([None, *CASES])),
        subjects=Subjects(
            persons=[PersonIdentity(given_name="A", sur_name="B", eu_resident=draw(st.booleans()))]
        ),
        handling=Handling(
            markings=draw(
                st.lists(
                    st.sampled_from([Marking.LES, Marking.FOUO, Marking.ORCON, Marking.NOFORN]),
                    unique=True,
                )
            ),
            tlp=draw(st.sampled_from(list(Tlp))),
            approved_recipients=draw(st.lists(st.sampled_from(RECIPIENTS), unique=True)),
        ),
        pnr=extract,
    )


@st.composite
def authorizations(draw: st.DrawFn) -> tuple[DisclosureAuthorization, str]:
    """An authorization and the agency that issued it (whose topic it arrived on)."""
    # Weighted towards authorizations that could apply, so that both outcomes are common.
    window = draw(st.sampled_from(["active", "active", "active", "future", "past"]))
    start = {"active": -1, "future": 1, "past": -10}[window]
    scope = draw(st.sampled_from(["E1", "E1", "E2", *CASES]))
    issued = DisclosureAuthorization(
        authorization_id=f"a{draw(st.integers(0, 10**6))}",
        kind=draw(st.sampled_from([AuthorizationKind.DISCLOSURE, *AuthorizationKind])),
        recipient=draw(st.sampled_from(["ice", "ice", *RECIPIENTS])),
        event_id=scope if scope.startswith("E") else None,
        case_reference=scope if scope.startswith("C") else None,
        purpose=draw(st.sampled_from(list(DeclaredPurpose))),
        # The text is no evidence of who approved: it may claim CBP whoever issued it.
        approving_office=draw(st.sampled_from(["CBP OFO NTC", "ICE HSI"])),
        safeguards=safeguards(),
        granted_at=AT + dt.timedelta(days=start),
        valid_from=AT + dt.timedelta(days=start),
        valid_until=AT + dt.timedelta(days=start + 5),
        revoked=draw(st.booleans()) and draw(st.booleans()),
    )
    return issued, draw(st.sampled_from(["CBP", "CBP", "ICE"]))


def _authorized(
    auths: list[tuple[DisclosureAuthorization, str]],
    kind: AuthorizationKind,
    recipient: str,
    event: Lookout,
    *,
    purpose: bool = False,
    case_only: bool = False,
) -> bool:
    """The oracle: an active authorization of ``kind`` issued by CBP covering the event (the
    latest record of each authorization id stands)."""
    latest = {a.authorization_id: (a, approver) for a, approver in auths}
    for a, approver in latest.values():
        covers = (a.case_reference is not None and a.case_reference == event.case_reference) or (
            not case_only and a.event_id == event.event_id
        )
        if (
            a.kind is kind
            and a.recipient == recipient
            and not a.revoked
            and a.valid_from <= AT < a.valid_until
            and approver == "CBP"
            and covers
            and (not purpose or a.purpose == event.declared_purpose)
        ):
            return True
    return False


def _is_eu_pnr(extract: PnrExtract) -> bool:
    return extract.source_region is PnrSourceRegion.EU or any(
        AIRPORTS[code] in EU_EEA for code in extract.route
    )


def _check_markings(event: Lookout, recipient: str, view: Any, content: bool) -> None:
    """NOFORN, TLP and ORCON (any originator) against the agencies' own data."""
    members = POLICY.recipients[recipient].members
    foreign = any(m.country != "US" for m in members)
    handling, originator = event.handling, POLICY.agencies[event.originator.agency]
    if Marking.NOFORN in handling.markings and foreign:
        assert view is None, "NOFORN content reached a recipient with foreign members"
    if handling.tlp is Tlp.RED and view is not None:
        assert recipient in handling.approved_recipients, "TLP:RED beyond its named recipients"
    if handling.tlp is Tlp.AMBER_STRICT and view is not None:
        assert all(m.id == originator.id for m in members), "TLP:AMBER+STRICT left its agency"
    outside = any(m.department != originator.department for m in members)
    if Marking.ORCON in handling.markings and outside and content:
        assert recipient in handling.approved_recipients, "ORCON content without consent"


def _check(
    event: Lookout, auths: list[tuple[DisclosureAuthorization, str]], recipient: str, view: Any
) -> None:
    foreign = any(m.country != "US" for m in POLICY.recipients[recipient].members)
    if event.valid_until <= AT:
        assert view is None, "an expired lookout was delivered"
    if view is None or "pnr" not in view or view["pnr"] is None:
        return
    assert event.pnr is not None
    if not _is_eu_pnr(event.pnr):
        return
    if recipient != "cbp":
        assert event.declared_purpose in PERMITTED, "EU PNR disclosed for a purpose outside Art. 4"
        assert _authorized(auths, AuthorizationKind.DISCLOSURE, recipient, event, purpose=True)
        if foreign:
            assert _authorized(
                auths, AuthorizationKind.FOREIGN_TRANSFER, recipient, event, purpose=True
            )
    remarks = [*view["pnr"]["generalRemarks"], view["pnr"]["analysis"]]
    if view["pnr"]["sensitive"] or any(text in SENSITIVE_REMARKS for text in remarks):
        assert _authorized(auths, AuthorizationKind.SENSITIVE_BREAK_GLASS, recipient, event)
    if AT - event.pnr.loaded_at > dt.timedelta(days=183) and not _authorized(
        auths, AuthorizationKind.REPERSONALIZATION, recipient, event, case_only=True
    ):
        assert all(name == "[masked]" for name in view["pnr"]["passengerNames"])
        assert all(item == "[masked]" for item in view["pnr"]["contactData"])


@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events(), auths=st.lists(authorizations(), max_size=6))
def test_no_view_leaks_what_its_recipient_may_not_see(
    event: Lookout, auths: list[tuple[DisclosureAuthorization, str]]
) -> None:
    book = AuthorizationBook()
    for authorization, approver in auths:
        book.put(authorization, approved_by=approver)
    engine = PolicyEngine(POLICY, book)
    record = event.to_avro()
    verdicts = [engine.evaluate(event, record, recipient, AT) for recipient in RECIPIENTS]
    assert [v.recipient for v in verdicts] == RECIPIENTS  # exactly one decision per pair
    for verdict in verdicts:
        assert verdict.error is None
        assert (verdict.view is None) == (verdict.decision is Decision.DENY)
        content = verdict.decision in (Decision.DELIVER, Decision.DELIVER_REDACTED)
        _check_markings(event, verdict.recipient, verdict.view, content)
        if verdict.decision is Decision.POINTER:
            Pointer.model_validate(verdict.view)  # a pointer and nothing more
            continue
        _check(event, auths, verdict.recipient, verdict.view)
        if verdict.decision is Decision.DELIVER:
            assert verdict.view is record
