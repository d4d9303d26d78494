"""The policy engine's memo (intelbus/policy/engine.py) changes no verdict.

An engine that has already decided one event decides another, alike in what the rules read
or not, exactly as an engine deciding it first (nothing memoized) does: the same decision,
rules, reason, authorizations and view, whatever the time, and whatever authorizations
arrived in between.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intelbus.models import (
    DisclosureAuthorization,
    Handling,
    Lookout,
    Marking,
    OfficerSafetyAlert,
    Tlp,
)
from intelbus.policy import engine as engine_module
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import PolicyEngine
from tests import factories
from tests.policy_fixtures import AT, POLICY, RECIPIENTS
from tests.test_policy_properties import authorizations, events


@st.composite
def alike(draw: st.DrawFn, first: Lookout) -> Lookout:
    """``first`` with what the memo's key leaves out drawn anew, and sometimes what it keeps."""
    update: dict[str, Any] = {
        "event_id": draw(st.sampled_from(["E1", "E2", "E3"])),
        "case_reference": draw(st.sampled_from([None, "C1", "C2"])),
        "narrative": draw(st.sampled_from(["one", "two"])),
        "originator": factories.originator(
            agency=draw(st.sampled_from([first.originator.agency] * 3 + ["CBP", "ICE", "FBI"])),
            office=draw(st.sampled_from(["Laredo", "Miami"])),
        ),
        "valid_until": AT + dt.timedelta(days=draw(st.sampled_from([-1, 1, 30]))),
    }
    other = draw(events())  # what else may differ, one field at a time
    for name in ("pnr", "category", "areas", "declared_purpose"):
        if draw(st.integers(0, 3)) == 0:
            update[name] = getattr(other, name)
    handling = {
        name: getattr(other.handling, name)
        for name in ("markings", "tlp", "approved_recipients")
        if draw(st.integers(0, 3)) == 0
    }
    update["handling"] = first.handling.model_copy(update=handling)
    return first.model_copy(update=update)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    first=events(),
    auths=st.lists(authorizations(), max_size=4),
    later=st.sampled_from([dt.timedelta(0), dt.timedelta(days=2), dt.timedelta(days=200)]),
)
def test_memoized_verdicts_are_the_verdicts_of_a_fresh_engine(
    data: st.DataObject,
    first: Lookout,
    auths: list[tuple[DisclosureAuthorization, str]],
    later: dt.timedelta,
) -> None:
    book = AuthorizationBook()
    memoized = PolicyEngine(POLICY, book)
    for recipient in RECIPIENTS:
        memoized.evaluate(first, first.to_avro(), recipient, AT)
    for authorization, approver in auths:  # authorizations arrive after the first decisions
        book.put(authorization, approved_by=approver)
    second = data.draw(alike(first))
    record = second.to_avro()
    for recipient in RECIPIENTS:
        fresh = PolicyEngine(POLICY, book).evaluate(second, record, recipient, AT + later)
        assert memoized.evaluate(second, record, recipient, AT + later) == fresh


def test_the_memo_is_bounded() -> None:
    engine = PolicyEngine(POLICY, AuthorizationBook())
    for n in range(engine_module.MEMO_ENTRIES + 10):
        event = factories.lookout(areas=[f"A{n}"])
        engine.evaluate(event, event.to_avro(), RECIPIENTS[0], AT)
    assert 0 < len(engine._memo) <= engine_module.MEMO_ENTRIES


@st.composite
def alerts(draw: st.DrawFn) -> OfficerSafetyAlert:
    """Alerts over the facts the rules read of one: area, originator, markings, TLP, window."""
    return factories.alert(
        event_id=draw(st.sampled_from(["A1", "A2"])),
        window_end=AT + dt.timedelta(minutes=draw(st.sampled_from([-30, 60, 720]))),
        originator=factories.originator(agency=draw(st.sampled_from(["CBP", "ICE", "FBI"]))),
        location=factories.alert().location.model_copy(
            update={"area_code": draw(st.sampled_from(["LRT", "MIP", "BLW", "2304"]))}
        ),
        handling=Handling(
            markings=draw(
                st.lists(st.sampled_from([Marking.LES, Marking.ORCON, Marking.NOFORN]), unique=True)
            ),
            tlp=draw(st.sampled_from(list(Tlp))),
            approved_recipients=draw(st.lists(st.sampled_from(RECIPIENTS), unique=True)),
        ),
    )


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seen=st.lists(alerts(), min_size=1, max_size=8), alert=alerts())
def test_memoized_alert_verdicts_are_the_verdicts_of_a_fresh_engine(
    seen: list[OfficerSafetyAlert], alert: OfficerSafetyAlert
) -> None:
    memoized = PolicyEngine(POLICY, AuthorizationBook())
    for earlier in seen:
        for recipient in RECIPIENTS:
            memoized.evaluate(earlier, earlier.to_avro(), recipient, AT)
    record = alert.to_avro()
    for recipient in RECIPIENTS:
        fresh = PolicyEngine(POLICY, AuthorizationBook()).evaluate(alert, record, recipient, AT)
        assert memoized.evaluate(alert, record, recipient, AT) == fresh
