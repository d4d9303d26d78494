"""The search form: query parameters to the audit tool's DecisionFilter, each bad value
named with its field and why (shown on the page, never a traceback)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from consumers.audit.query import DecisionFilter
from consumers.console_store.search import SORTS
from intelbus.models import Decision

__all__ = ["FIELDS", "Search", "parse_search"]

# The form's text fields: name -> label (the order shown).
FIELDS = {
    "event": "Event id",
    "recipient": "Recipient",
    "rule": "Rule",
    "authorization": "Authorization id",
    "policy": "Policy version",
}
_MAX_VALUE = 200  # characters; ids are far shorter


@dataclass
class Search:
    criteria: DecisionFilter
    sort: str = "decided"
    descending: bool = True
    page: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # field -> what is wrong


def _text(params: Mapping[str, str], name: str, errors: dict[str, str]) -> str | None:
    value = params.get(name, "").strip()
    if len(value) > _MAX_VALUE:
        errors[name] = f"longer than {_MAX_VALUE} characters"
        return None
    return value or None


def _time(params: Mapping[str, str], name: str, errors: dict[str, str]) -> dt.datetime | None:
    value = _text(params, name, errors)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        errors[name] = f"{value!r} is not a date or time (ISO 8601, e.g. 2026-11-01T08:00)"
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _decision(params: Mapping[str, str], errors: dict[str, str]) -> Decision | None:
    value = _text(params, "decision", errors)
    if value is None:
        return None
    for decision in Decision:
        if value in (decision.label, decision.value):
            return decision
    errors["decision"] = f"{value!r} is not one of {', '.join(d.label for d in Decision)}"
    return None


def parse_search(params: Mapping[str, str]) -> Search:
    errors: dict[str, str] = {}
    criteria = DecisionFilter(
        event_id=_text(params, "event", errors),
        recipient=_text(params, "recipient", errors),
        rule=_text(params, "rule", errors),
        decision=_decision(params, errors),
        since=_time(params, "since", errors),
        until=_time(params, "until", errors),
        authorization_id=_text(params, "authorization", errors),
        policy_version=_text(params, "policy", errors),
    )
    sort = params.get("sort", "decided")
    if sort not in SORTS:
        errors["sort"] = f"{sort[:40]!r} is not one of {', '.join(SORTS)}"
        sort = "decided"
    page_text = params.get("page", "0")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 7 else -1
    if page < 0:
        errors["page"] = f"{page_text[:20]!r} is not a page number"
        page = 0
    return Search(criteria, sort, params.get("order", "desc") != "asc", page, errors)
