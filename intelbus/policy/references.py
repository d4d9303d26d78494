"""The ids a record names that the policy set must know: an event's originator agency and the
recipients it names, an authorization's recipient. Checked where records enter (publish
input); the router fails closed on what slips past (an unknown originator is denied to all)."""

from __future__ import annotations

from intelbus.models import DisclosureAuthorization, Lookout, OfficerSafetyAlert, Record
from intelbus.policy.policyset import PolicySet

__all__ = ["unknown_references"]


def unknown_references(record: Record, policy: PolicySet) -> list[tuple[str, str]]:
    """(field, reason) for each agency or recipient id in ``record`` the policy does not know."""
    problems: list[tuple[str, str]] = []

    def recipient(field: str, value: str) -> None:
        if value not in policy.recipients:
            known = sorted(policy.recipients)
            problems.append((field, f"unknown recipient {value!r}; recipients.yaml has {known}"))

    if isinstance(record, Lookout | OfficerSafetyAlert):
        agency = record.originator.agency
        if agency not in policy.agencies:
            known = sorted(policy.agencies)
            problems.append(
                ("originator.agency", f"unknown agency {agency!r}; agencies.yaml has {known}")
            )
        for index, named in enumerate(record.handling.approved_recipients):
            recipient(f"handling.approvedRecipients.{index}", named)
    elif isinstance(record, DisclosureAuthorization):
        recipient("recipient", record.recipient)
    return problems
