"""Authorizations are events too: a grant applies to events decided after it reaches the
router, a revocation ends it, and one not yet valid covers nothing."""

from __future__ import annotations

import datetime as dt
import uuid

from intelbus.models import (
    AuthorizationKind,
    Category,
    DeclaredPurpose,
    DisclosureAuthorization,
    Lookout,
)
from producers.publisher import Publisher
from services.router.progress import wait_until_all_routed, wait_until_authorizations_applied
from tests import factories
from tests.conftest import Bus
from tests.policy_fixtures import authorization, pnr
from tests.router_helpers import decisions_of, running_router


def test_grant_revoke_and_window(bus: Bus) -> None:
    now = dt.datetime.now(dt.UTC)
    case = f"CASE-{uuid.uuid4().hex[:6]}"

    def pnr_lookout(name: str) -> Lookout:
        return factories.lookout(
            event_id=name,
            issued_at=now,
            valid_until=now + dt.timedelta(days=1),
            category=Category.TERRORIST_THREAT,
            declared_purpose=DeclaredPurpose.TERRORISM,
            areas=["MIP"],
            case_reference=case,
            pnr=pnr(loaded_at=now - dt.timedelta(days=1), sensitive=[]),
        )

    grant = authorization(
        AuthorizationKind.DISCLOSURE,
        "ice",
        authorization_id="grant",
        case_reference=case,
        granted_at=now,
        valid_from=now - dt.timedelta(minutes=1),
        valid_until=now + dt.timedelta(days=1),
    )
    publisher = Publisher(bus.settings)

    def route(record: Lookout) -> None:
        publisher.publish(record)
        wait_until_all_routed(bus.settings)

    def authorize(record: DisclosureAuthorization) -> None:
        publisher.publish(record)
        wait_until_authorizations_applied(bus.settings, bus.topics.authorizations("cbp"))

    with running_router(bus.settings):
        route(pnr_lookout("before-grant"))
        authorize(grant)
        route(pnr_lookout("granted"))
        authorize(grant.model_copy(update={"revoked": True}))
        route(pnr_lookout("revoked"))
        authorize(
            grant.model_copy(
                update={
                    "authorization_id": "later",
                    "valid_from": now + dt.timedelta(days=2),
                    "valid_until": now + dt.timedelta(days=3),
                }
            )
        )
        route(pnr_lookout("not-yet-valid"))

    ice = {
        d.event_id: (d.decision.label, d.authorization_ids, d.onward_transfer)
        for d in decisions_of(bus.settings, bus.topics.decisions)
        if d.recipient == "ice"
    }
    assert ice == {
        "before-grant": ("deliver-redacted", [], False),
        "granted": ("deliver", ["grant"], True),
        "revoked": ("deliver-redacted", [], False),
        "not-yet-valid": ("deliver-redacted", [], False),
    }
