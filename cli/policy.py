"""``intelbus policy check | explain``: the sharing rules, for reviewers, without Kafka."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intelbus.errors import IntelbusError
from intelbus.jsonout import dumps
from intelbus.models import DisclosureAuthorization, Lookout, OfficerSafetyAlert
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import Event, PolicyEngine
from intelbus.policy.policyset import load_policy_set
from intelbus.settings import Settings
from producers.input import parse_records

__all__ = ["register"]


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


def _load_event(path: Path) -> Event:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise IntelbusError(f"{path}: cannot read the event: {error}") from None
    model = OfficerSafetyAlert if isinstance(data, dict) and "windowStart" in data else Lookout
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise IntelbusError(f"{path}: not a valid {model.__name__}: {problems}") from None


def _load_book(path: Path | None, approved_by: str | None) -> AuthorizationBook:
    book = AuthorizationBook()
    if path is None:
        return book
    if not approved_by:
        raise IntelbusError(
            "--authorizations needs --approved-by AGENCY: an authorization counts as issued by "
            "the agency that published it (on the bus: whose topic it arrived on), never by "
            "what its text says"
        )
    with path.open() as stream:
        _, problems = parse_records(
            stream, DisclosureAuthorization, lambda a: book.put(a, approved_by)
        )
    if problems:
        raise IntelbusError("\n".join(f"{path}: {problem}" for problem in problems))
    return book


def _explain(args: argparse.Namespace, settings: Settings) -> int:
    policy = load_policy_set(settings.policies_dir)
    event = _load_event(args.event)
    at = args.at or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        raise IntelbusError("--at needs a time zone, e.g. 2026-11-23T12:00:00Z")
    engine = PolicyEngine(policy, _load_book(args.authorizations, args.approved_by))
    verdict = engine.evaluate(event, event.to_avro(), args.recipient, at)
    if args.json:
        print(
            dumps(
                {
                    "decision": verdict.decision.label,
                    "rules": list(verdict.rules),
                    "removed_fields": list(verdict.removed_fields),
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
