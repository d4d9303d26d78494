"""Decide what one recipient gets of one event. Pure: no Kafka, no clock, no I/O.

The steps, in order (the first that withholds everything ends the evaluation):

1. fail-closed      unknown recipient, originator agency or marking: deny
2. expiry           expired lookout / alert past its window: deny
3. need to know     lookouts: the recipient's categories and areas (dhs-need-to-know);
                    alerts: the recipient's areas cover the location (officer-safety)
4. tlp              RED: named recipients only; AMBER+STRICT: the originator's organization
                    only: deny, not even a pointer
5. noforn           NOFORN content and any foreign member: deny, not even a pointer
6. third-agency     ORCON content to a recipient outside the originator's department without
                    the originator's consent: pointer
7. EU PNR           recognized by its route (eu-pnr-scope); the primary receiver keeps it;
                    others lose it unless purpose, disclosure and (for foreign members)
                    foreign-transfer authorizations allow it; sensitive data (declared, or
                    found in free text) and depersonalization apply to everyone who keeps it

Any exception during evaluation is itself a decision: deny under fail-closed.

Verdicts are memoized: without EU PNR the rules read only a few facts of an event (its
type, originator, markings and TLP, whether it names the recipient, whether the recipient
subscribed to its category and areas, or the alert's area), so events alike in those get
the same decision, rules and reason; only the view is the event's own (itself whole, or its
pointer). EU PNR verdicts (route, purpose, authorizations, free text, the PNR's age) and
expired events (the reason names the expiry) are always evaluated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from intelbus.models import (
    AuthorizationKind,
    Category,
    Decision,
    DisclosureAuthorization,
    EventKind,
    Lookout,
    Marking,
    OfficerSafetyAlert,
    PnrSourceRegion,
    Pointer,
    Priority,
    Record,
)
from intelbus.policy import redaction
from intelbus.policy.agencies import Agency
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.eu_pnr import eu_pnr_reason
from intelbus.policy.policyset import PolicySet
from intelbus.policy.recipients import Recipient

__all__ = ["Event", "PolicyEngine", "Verdict", "event_kind", "pointer_for"]

Event = Lookout | OfficerSafetyAlert


@dataclass(frozen=True)
class Verdict:
    """The decision for one (event, recipient) pair, and the view to deliver."""

    recipient: str
    decision: Decision
    rules: tuple[str, ...]
    removed_fields: tuple[str, ...]
    authorization_ids: tuple[str, ...]
    onward_transfer: bool
    carried_eu_pnr: bool
    delivered_eu_pnr: bool
    notifications: tuple[str, ...]
    reason: str
    # The delivered record as an Avro dict (the event's own dict when whole), or None.
    view: dict[str, Any] | None
    view_type: type[Record] | None
    error: str | None = None

    def with_view(self, view: dict[str, Any] | None) -> Verdict:
        """This verdict delivering ``view`` (dataclasses.replace costs more on the hot path)."""
        return Verdict(
            self.recipient,
            self.decision,
            self.rules,
            self.removed_fields,
            self.authorization_ids,
            self.onward_transfer,
            self.carried_eu_pnr,
            self.delivered_eu_pnr,
            self.notifications,
            self.reason,
            view,
            self.view_type,
            self.error,
        )


@dataclass
class _Trace:
    """What the evaluation did so far; becomes the Verdict."""

    rules: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    onward_transfer: bool = False
    carried_eu_pnr: bool = False
    delivered_eu_pnr: bool = False

    def fire(self, rule_id: str, reason: str | None = None) -> None:
        if rule_id not in self.rules:
            self.rules.append(rule_id)
        if reason:
            self.reasons.append(reason)

    def relied_on(self, authorization: DisclosureAuthorization) -> None:
        self.authorizations.append(authorization.authorization_id)

    def verdict(
        self,
        recipient: str,
        decision: Decision,
        view: dict[str, Any] | None,
        view_type: type[Record] | None,
        error: str | None = None,
    ) -> Verdict:
        return Verdict(
            recipient=recipient,
            decision=decision,
            rules=tuple(self.rules),
            removed_fields=tuple(self.removed),
            authorization_ids=tuple(self.authorizations),
            onward_transfer=self.onward_transfer,
            carried_eu_pnr=self.carried_eu_pnr,
            delivered_eu_pnr=self.delivered_eu_pnr and view is not None,
            notifications=tuple(self.notifications),
            reason="; ".join(self.reasons) or "shared under the recipient's subscriptions",
            view=view,
            view_type=view_type,
            error=error,
        )


def event_kind(event: Event) -> EventKind:
    return EventKind.LOOKOUT if isinstance(event, Lookout) else EventKind.OFFICER_SAFETY_ALERT


def _eu_pnr_reason(event: Event, policy: PolicySet) -> str | None:
    if not isinstance(event, Lookout) or event.pnr is None:
        return None
    return eu_pnr_reason(event.pnr, policy.pnr_scope.countries)


def pointer_for(event: Event, reason: str) -> Pointer:
    return Pointer(
        event_id=event.event_id,
        event_kind=event_kind(event),
        category=event.category if isinstance(event, Lookout) else Category.OFFICER_SAFETY,
        priority=event.priority if isinstance(event, Lookout) else Priority.URGENT,
        issued_at=event.issued_at,
        originator_agency=event.originator.agency,
        originator_office=event.originator.office,
        point_of_contact=event.originator.point_of_contact,
        reason=reason,
    )


def _mixed(recipient: Recipient, *, foreign: bool = False, department: str = "") -> bool:
    """Members differ in the property a rule judged (foreign, or in ``department``): the most
    restricted one decided."""
    if foreign:
        return recipient.has_foreign_member and any(not m.is_foreign for m in recipient.members)
    return not recipient.all_within(department) and any(
        m.department == department for m in recipient.members
    )


# Distinct (recipient, rule inputs) kept; a full memo starts over (a few hundred in practice).
MEMO_ENTRIES = 4096
_REMADE = frozenset({Decision.DENY, Decision.DELIVER, Decision.POINTER})


def _rule_inputs(
    event: Event, recipient_id: str, at: dt.datetime, policy: PolicySet
) -> tuple[Any, ...] | None:
    """Everything the rules read of an event without EU PNR that is not expired at ``at``
    (the memo's key), or None for an event whose verdict must be evaluated."""
    recipient = policy.recipients.get(recipient_id)
    if recipient is None:
        return None
    if isinstance(event, Lookout):
        if event.valid_until <= at or _eu_pnr_reason(event, policy) is not None:
            return None
        needed: object = _subscribed(event, recipient)
    else:
        if event.window_end <= at:
            return None
        needed = event.location.area_code  # its reason names the area
    handling = event.handling
    return (
        recipient_id,
        type(event),
        event.originator.agency,
        tuple(handling.markings),
        handling.tlp,
        recipient.id in handling.approved_recipients,
        needed,
    )


def _subscribed(event: Lookout, recipient: Recipient) -> bool:
    subscriptions = recipient.subscriptions
    return event.category in subscriptions.categories and subscriptions.covers_area(event.areas)


@dataclass(frozen=True, slots=True)
class _Memo:
    """A verdict without its view, and what the view of another event alike is made of."""

    verdict: Verdict
    pointer_reason: str | None  # a pointer's own reason (the verdict's may say more)

    @classmethod
    def of(cls, verdict: Verdict) -> _Memo:
        pointer = verdict.view if verdict.decision is Decision.POINTER else None
        return cls(verdict.with_view(None), pointer["reason"] if pointer else None)

    def verdict_for(self, event: Event, record: dict[str, Any]) -> Verdict:
        if self.verdict.decision is Decision.DELIVER:
            return self.verdict.with_view(record)
        if self.pointer_reason is not None:
            return self.verdict.with_view(pointer_for(event, self.pointer_reason).to_avro())
        return self.verdict


class PolicyEngine:
    """Evaluates events against one policy set and the authorizations known so far."""

    def __init__(self, policy: PolicySet, book: AuthorizationBook) -> None:
        self.policy = policy
        self.book = book
        self._memo: dict[tuple[Any, ...], _Memo] = {}

    def evaluate(
        self, event: Event, record: dict[str, Any], recipient_id: str, at: dt.datetime
    ) -> Verdict:
        """Decide what ``recipient_id`` gets of ``event`` (``record``: its Avro dict) at ``at``."""
        key = _rule_inputs(event, recipient_id, at, self.policy)
        known = self._memo.get(key) if key is not None else None
        if known is not None:
            return known.verdict_for(event, record)
        verdict = self._evaluate(event, record, recipient_id, at)
        # A failure is kept never, nor a view the memo could not make again.
        if key is not None and verdict.error is None and verdict.decision in _REMADE:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            self._memo[key] = _Memo.of(verdict)
        return verdict

    def _evaluate(
        self, event: Event, record: dict[str, Any], recipient_id: str, at: dt.datetime
    ) -> Verdict:
        evaluation = _Evaluation(self.policy, self.book, event, record, at)
        try:
            return evaluation.run(recipient_id)
        except Exception as error:  # any evaluation error: deny, never leak
            failed = _Trace(carried_eu_pnr=evaluation.trace.carried_eu_pnr)
            failed.fire(
                "fail-closed", f"evaluation error ({type(error).__name__}); nothing delivered"
            )
            return failed.verdict(
                recipient_id, Decision.DENY, None, None, error=f"{type(error).__name__}: {error}"
            )


@dataclass
class _Evaluation:
    policy: PolicySet
    book: AuthorizationBook
    event: Event
    record: dict[str, Any]
    at: dt.datetime
    trace: _Trace = field(init=False)

    def __post_init__(self) -> None:
        self.eu_pnr = _eu_pnr_reason(self.event, self.policy)
        self.trace = _Trace(carried_eu_pnr=self.eu_pnr is not None)

    def run(self, recipient_id: str) -> Verdict:
        policy, event, trace = self.policy, self.event, self.trace
        recipient = policy.recipients.get(recipient_id)
        if recipient is None:
            trace.fire("fail-closed", f"unknown recipient {recipient_id!r}")
            return self._deny(recipient_id)
        originator = policy.agencies.get(event.originator.agency)
        if originator is None:
            trace.fire("fail-closed", f"unknown originator agency {event.originator.agency!r}")
            return self._deny(recipient_id)
        markings = set(event.handling.markings)
        if Marking.UNKNOWN in markings:
            trace.fire("fail-closed", "the event carries a marking this policy does not know")
            return self._deny(recipient_id)

        expires = event.valid_until if isinstance(event, Lookout) else event.window_end
        if expires <= self.at:
            trace.fire("expiry", f"expired at {expires.isoformat()}")
            return self._deny(recipient_id)

        if not self._needed_by(recipient):
            return self._deny(recipient_id)

        if not self._tlp_allows(recipient, originator):
            return self._deny(recipient_id)

        outside = not recipient.all_within(originator.department)
        if markings & policy.noforn.markings and recipient.has_foreign_member:
            trace.fire("noforn", "NOFORN content and the recipient has foreign members")
            composite = bool(markings & policy.third_agency.markings) and outside
            if _mixed(recipient, foreign=True) or composite:
                trace.fire("most-restrictive")
            return self._deny(recipient_id)

        if markings & policy.third_agency.markings and outside:
            if recipient.id in event.handling.approved_recipients:
                trace.fire("third-agency", "the originator consented to this recipient")
            else:
                reason = (
                    f"originator-controlled (ORCON) {originator.id} information for a "
                    f"recipient outside {originator.department}; ask the point of contact"
                )
                trace.fire("third-agency", reason)
                if _mixed(recipient, department=originator.department):
                    trace.fire("most-restrictive")
                pointer = pointer_for(event, reason)
                return trace.verdict(recipient_id, Decision.POINTER, pointer.to_avro(), Pointer)

        view = self.record
        if trace.carried_eu_pnr:
            view = self._pnr_view(recipient)
        decision = Decision.DELIVER if view is self.record else Decision.DELIVER_REDACTED
        return trace.verdict(recipient_id, decision, view, type(event))

    def _deny(self, recipient_id: str) -> Verdict:
        return self.trace.verdict(recipient_id, Decision.DENY, None, None)

    def _tlp_allows(self, recipient: Recipient, originator: Agency) -> bool:
        """TLP 2.0: RED to the named recipients only, AMBER+STRICT to the originator's
        organization only; the other labels add nothing to need-to-know."""
        rule, handling, trace = self.policy.tlp, self.event.handling, self.trace
        label = f"TLP:{handling.tlp.value.replace('_', '+')}"
        if handling.tlp in rule.named_recipients_only:
            if recipient.id not in handling.approved_recipients:
                trace.fire("tlp", f"{label}: only the recipients the originator named")
                return False
            trace.fire("tlp", f"{label}: the originator named this recipient")
        elif handling.tlp in rule.originator_only and not recipient.only(originator.id):
            trace.fire("tlp", f"{label}: only {originator.id} itself")
            if any(member.id == originator.id for member in recipient.members):
                trace.fire("most-restrictive")
            return False
        return True

    def _needed_by(self, recipient: Recipient) -> bool:
        """Alerts go by area of responsibility; lookouts by subscribed categories and areas."""
        event, trace, subscriptions = self.event, self.trace, recipient.subscriptions
        if isinstance(event, OfficerSafetyAlert):
            area = event.location.area_code
            if not subscriptions.covers_area([area]):
                trace.fire("officer-safety", f"{area} is outside its areas")
                return False
            trace.fire("officer-safety", f"its areas cover {area}")
            return True
        if not _subscribed(event, recipient):
            trace.fire("dhs-need-to-know", "not within its subscribed categories and areas")
            return False
        if recipient.all_dhs:
            trace.fire("dhs-need-to-know", "DHS components share on a need-to-know basis")
        return True

    def _authorization(
        self,
        kind: AuthorizationKind,
        recipient: Recipient,
        *,
        for_purpose: bool = False,
        case_only: bool = False,
    ) -> DisclosureAuthorization | None:
        # Every EU PNR authorization must be approved by the primary receiver (CBP).
        event = self.event
        return self.book.covering(
            kind,
            recipient.id,
            event_id=event.event_id,
            case_reference=event.case_reference,
            at=self.at,
            purpose=event.declared_purpose if for_purpose and isinstance(event, Lookout) else None,
            case_only=case_only,
            approving_agency=self.policy.pnr_third_party.approving_agency,
        )

    def _removing(
        self, view: dict[str, Any], rule_id: str, paths: tuple[str, ...], reason: str
    ) -> dict[str, Any]:
        self.trace.fire(rule_id, reason)
        for path in paths:
            self.trace.removed.append(path)
            view = redaction.remove(view, path)
        return view

    def _sensitive_view(self, view: dict[str, Any], recipient: Recipient) -> dict[str, Any]:
        """``view`` without its sensitive PNR data (Art. 6): the declared items removed and
        every free-text item holding a sensitive code or term masked, unless break-glass."""
        rule, trace, event = self.policy.pnr_sensitive, self.trace, self.event
        assert isinstance(event, Lookout)
        assert event.pnr is not None
        pnr = event.pnr
        found = [
            item
            for path in rule.scans
            for item in redaction.matching(view, path, self.policy.sensitive_terms.found)
        ]
        if not (pnr.sensitive or found):
            return view
        glass = self._authorization(AuthorizationKind.SENSITIVE_BREAK_GLASS, recipient)
        if glass is not None:
            trace.fire(rule.id, "sensitive PNR data shown under break-glass")
            trace.relied_on(glass)
            return view
        if pnr.sensitive:
            view = self._removing(view, rule.id, rule.removes, "sensitive PNR data masked")
        if found:
            trace.fire(rule.id, f"sensitive codes or terms masked in {', '.join(found)}")
            for item in found:
                view = redaction.mask(view, item)
                trace.removed.append(item)
        return view

    def _pnr_view(self, recipient: Recipient) -> dict[str, Any]:
        """The event as ``recipient`` may see its EU PNR."""
        policy, trace, event, view = self.policy, self.trace, self.event, self.record
        assert isinstance(event, Lookout)
        assert event.pnr is not None
        if event.pnr.source_region is not PnrSourceRegion.EU:
            trace.fire("eu-pnr-scope", f"the PNR is {self.eu_pnr}")
        if recipient.id in policy.pnr_primary.primary_receivers:
            trace.fire("eu-pnr-primary", "EU PNR goes whole to its primary receiver")
        else:
            if event.declared_purpose not in policy.pnr_purpose.permitted_purposes:
                return self._removing(
                    view,
                    "eu-pnr-purpose",
                    policy.pnr_purpose.removes,
                    f"EU PNR may not be disclosed for {event.declared_purpose.value}",
                )
            disclosure = self._authorization(
                AuthorizationKind.DISCLOSURE, recipient, for_purpose=True
            )
            if disclosure is None:
                return self._removing(
                    view,
                    "eu-pnr-third-party",
                    policy.pnr_third_party.removes,
                    "EU PNR is a third-party disclosure and no authorization covers it",
                )
            if recipient.has_foreign_member:
                foreign = self._authorization(
                    AuthorizationKind.FOREIGN_TRANSFER, recipient, for_purpose=True
                )
                if foreign is None:
                    view = self._removing(
                        view,
                        "eu-pnr-foreign",
                        policy.pnr_foreign.removes,
                        "EU PNR to a recipient with foreign members needs an express authorization",
                    )
                    if _mixed(recipient, foreign=True):
                        trace.fire("most-restrictive")
                    return view
                trace.fire("eu-pnr-foreign", "foreign transfer expressly authorized")
                trace.relied_on(foreign)
                if any(person.eu_resident for person in event.subjects.persons):
                    trace.notifications.append(policy.pnr_foreign.notification)
            trace.fire(
                "eu-pnr-third-party",
                f"onward transfer of EU PNR under authorization {disclosure.authorization_id}",
            )
            trace.relied_on(disclosure)
            trace.onward_transfer = True

        view = self._sensitive_view(view, recipient)

        rule = policy.pnr_depersonalize
        if self.at - event.pnr.loaded_at > dt.timedelta(days=rule.after_days):
            repersonalized = self._authorization(
                AuthorizationKind.REPERSONALIZATION, recipient, case_only=True
            )
            if repersonalized is None:
                trace.fire("eu-pnr-depersonalize", f"PNR older than {rule.after_days} days masked")
                for path in rule.masks:
                    view = redaction.mask(view, path)
                    trace.removed.append(path)
            else:
                trace.fire("eu-pnr-depersonalize", "PNR re-personalized for the case")
                trace.relied_on(repersonalized)
        trace.delivered_eu_pnr = True
        return view
