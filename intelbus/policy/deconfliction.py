"""Who is told of a deconfliction notice: the rules deconfliction* of policies/rules.yaml.

Pure: a notice and the policy set in, one verdict per recipient out (the router logs each as
a decision). The notice's content is fixed by its schema (the other party's agency, point of
contact, identifier type and event id); what these rules decide is who may learn that the
match exists. They fail closed: an unknown marking or match kind is refused to everybody.
"""

from __future__ import annotations

from intelbus.models import Decision, DeconflictionMatch, DeconflictionNotice, Marking
from intelbus.policy.engine import Verdict
from intelbus.policy.policyset import PolicySet
from intelbus.policy.recipients import Recipient

__all__ = ["notice_verdict"]


def _verdict(recipient: str, decision: Decision, rule: str, reason: str) -> Verdict:
    return Verdict(
        recipient, decision, (rule,), (), (), False, False, False, (), reason, None, None
    )


def _party(recipient: Recipient, notice: DeconflictionNotice) -> bool:
    """The addressee's own recipients, and the task force running its operation."""
    return recipient.only(notice.to_agency) or recipient.id == notice.to_task_force


def notice_verdict(policy: PolicySet, notice: DeconflictionNotice, recipient_id: str) -> Verdict:
    """DELIVER (the notice whole) or DENY, under the first rule that decides."""
    recipient = policy.recipients.get(recipient_id)
    if recipient is None or Marking.UNKNOWN in notice.markings:
        why = "unknown recipient" if recipient is None else "a marking the contract lacks"
        return _verdict(recipient_id, Decision.DENY, "fail-closed", why)
    if notice.match is DeconflictionMatch.UNKNOWN:
        return _verdict(recipient_id, Decision.DENY, "fail-closed", "an unknown match kind")
    if not _party(recipient, notice):
        why = f"not a party: the notice is for {notice.to_agency}"
        return _verdict(recipient_id, Decision.DENY, "deconfliction", why)
    if Marking.NOFORN in notice.markings and recipient.has_foreign_member:
        why = "a matched item is NOFORN and the recipient has a foreign member"
        return _verdict(recipient_id, Decision.DENY, "deconfliction-noforn", why)
    if notice.from_eu_pnr and recipient_id not in policy.pnr_primary.primary_receivers:
        why = "the matched identifier came from EU PNR: only its primary receivers are told"
        return _verdict(recipient_id, Decision.DENY, "deconfliction-eu-pnr", why)
    if notice.orcon_agencies and not any(recipient.only(a) for a in notice.orcon_agencies):
        why = f"a matched item is ORCON: only its originator ({', '.join(notice.orcon_agencies)})"
        return _verdict(recipient_id, Decision.DENY, "deconfliction-orcon", why)
    what = (
        "operations overlapping in place and time"
        if notice.match is DeconflictionMatch.PLACE_AND_TIME
        else f"the same target ({notice.identifier_type})"
    )
    why = f"{notice.other_agency} ({notice.other_point_of_contact}) on {what}"
    return _verdict(recipient_id, Decision.DELIVER, "deconfliction", why)
