"""``intelbus policy check | explain``: the sharing rules, for reviewers, without Kafka."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any, TypeVar

from intelbus.errors import IntelbusError
from intelbus.jsonout import dumps
from intelbus.models import DisclosureAuthorization, Lookout, OfficerSafetyAlert, Record
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import Event, PolicyEngine
from intelbus.policy.policyset import load_policy_set
from intelbus.settings import Settings
from producers.input import ModelOf, parse_file

__all__ = ["register"]

R = TypeVar("R", bound=Record)


def register(commands: Any) -> None:
    parser = commands.add_parser("policy", help="check the policy set; explain a decision")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "check", help="validate policies/ (exit 1 naming file, line, field)"
    ).set_defaults(run=_check)
    explain = actions.add_parser(
        "explain", help="what a recipient would get of an event, and why (no Kafka needed)"
    )
    explain.add_argument("--event", required=True, type=Path, help="a lookout or alert (JSON)")
    explain.add_argument(
        "--recipient", required=True, help="a recipient id (policies/recipients.yaml)"
    )
    explain.add_argument(
        "--at", type=dt.datetime.fromisoformat, help="decision time (default: now)"
    )
    explain.add_argument(
        "--authorizations", type=Path, help="disclosure authorizations in force (JSON or NDJSON)"
    )
    explain.add_argument(
        "--approved-by",
        metavar="AGENCY",
        help="the agency that published --authorizations (e.g. CBP)",
    )
    explain.add_argument("--json", action="store_true", help="print exactly one JSON object")
    explain.set_defaults(run=_explain)


def _check(_: argparse.Namespace, settings: Settings) -> int:
    policy = load_policy_set(settings.policies_dir)
    print(f"policy set {settings.policies_dir} is valid; version {policy.version}")
    print(f"recipients: {', '.join(policy.recipients)}")
    for rule_id, description in policy.descriptions.items():
        print(f"  {rule_id:<22} {description[:70]}{'...' if len(description) > 70 else ''}")
    return 0


def _event_model(data: dict[str, Any]) -> type[Event]:
    return OfficerSafetyAlert if "windowStart" in data else Lookout


def _read(path: Path, model: ModelOf[R], settings: Settings) -> list[R]:
    """Every record of ``path`` (JSON or NDJSON, checked as publish input is), or an error
    listing each problem."""
    records: list[R] = []
    _, problems = parse_file(str(path), model, records.append, settings)
    if problems:
        raise IntelbusError("\n".join(f"{path}: {problem}" for problem in problems))
    return records


def _load_event(path: Path, settings: Settings) -> Event:
    events = _read(path, _event_model, settings)
    if len(events) != 1:
        raise IntelbusError(f"{path}: expected one event, found {len(events)}")
    return events[0]


def _load_book(path: Path | None, approved_by: str | None, settings: Settings) -> AuthorizationBook:
    book = AuthorizationBook()
    if path is None:
        return book
    if not approved_by:
        raise IntelbusError(
            "--authorizations needs --approved-by AGENCY: an authorization counts as issued by "
            "the agency that published it (on the bus: whose topic it arrived on), never by "
            "what its text says"
        )
    for authorization in _read(path, DisclosureAuthorization, settings):
        book.put(authorization, approved_by)
    return book


def _explain(args: argparse.Namespace, settings: Settings) -> int:
    policy = load_policy_set(settings.policies_dir)
    event = _load_event(args.event, settings)
    at = args.at or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        raise IntelbusError("--at needs a time zone, e.g. 2026-11-23T12:00:00Z")
    engine = PolicyEngine(policy, _load_book(args.authorizations, args.approved_by, settings))
    verdict = engine.evaluate(event, event.to_avro(), args.recipient, at)
    if args.json:
        print(
            dumps(
                {
                    "decision": verdict.decision.label,
                    "rules": list(verdict.rules),
                    "removed_fields": list(verdict.removed_fields),
                    "authorization_ids": list(verdict.authorization_ids),
                    "notifications": list(verdict.notifications),
                    "reason": verdict.reason,
                    "policy_version": policy.version,
                    "view": verdict.view,
                }
            )
        )
        return 0
    out = sys.stdout
    out.write(f"{args.recipient} would get {event.event_id}: {verdict.decision.label}\n")
    out.write(f"  rules:    {', '.join(verdict.rules) or '-'}\n")
    out.write(f"  removed:  {', '.join(verdict.removed_fields) or '-'}\n")
    if verdict.authorization_ids:
        out.write(f"  authorizations: {', '.join(verdict.authorization_ids)}\n")
    if verdict.notifications:
        out.write(f"  raises:   {', '.join(verdict.notifications)}\n")
    out.write(f"  why:      {verdict.reason}\n")
    out.write(f"  policy:   {policy.version}\n")
    if verdict.view is not None:
        out.write(f"  view:\n{dumps(verdict.view, indent=2)}\n")
    return 0
