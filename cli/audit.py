"""``intelbus audit query | verify | export | report``: the decision log, for reviewers.

Everything is read from the decisions topic (read_committed); there is no local index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from consumers.audit.log import Entry, read_decision_log
from consumers.audit.query import DecisionFilter, export, report_rows
from consumers.audit.verify import verify_log
from intelbus import chain
from intelbus.access.principals import load_principals
from intelbus.errors import IntelbusError
from intelbus.models import Decision, PolicyDecision
from intelbus.names import topic_map
from intelbus.progress import Progress
from intelbus.settings import Settings
from intelbus.tables import table

__all__ = ["register"]


def _time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _decision(value: str) -> Decision:
    for decision in Decision:
        if value in (decision.label, decision.value):
            return decision
    raise argparse.ArgumentTypeError(f"one of {', '.join(d.label for d in Decision)}")


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--event", help="event id")
    parser.add_argument("--recipient", help="recipient id")
    parser.add_argument("--rule", help="a rule id that fired")
    parser.add_argument(
        "--decision", type=_decision, help="deliver, deliver-redacted, pointer, deny"
    )
    parser.add_argument(
        "--since", type=_time, help="decided at or after (ISO 8601; UTC if no zone)"
    )
    parser.add_argument("--until", type=_time, help="decided before")
    parser.add_argument("--eu-pnr", action="store_true", help="only events that carried EU PNR")
    parser.add_argument(
        "--received-eu-pnr", action="store_true", help="only deliveries that kept EU PNR"
    )
    parser.add_argument("--delivered", action="store_true", help="only what the recipient received")
    parser.add_argument("--authorization", help="decisions relying on this authorization id")


def register(commands: Any) -> None:
    parser = commands.add_parser("audit", help="query and verify the policy decision log")
    parser.add_argument("--topic", help="decisions topic (default: from deploy/topics.yaml)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    query = actions.add_parser("query", help="decisions matching the filters")
    _add_filters(query)
    query.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    query.set_defaults(run=_query)
    verify = actions.add_parser("verify", help="check hash chains and seals; exit 1 on any problem")
    verify.add_argument("--keys", type=Path, help="directory of trusted public keys (*.pub)")
    verify.set_defaults(run=_verify)
    exporter = actions.add_parser("export", help="decisions matching the filters, as CSV or JSON")
    _add_filters(exporter)
    exporter.add_argument("--format", choices=["csv", "json"], default="csv")
    exporter.add_argument("--output", type=Path, help="file to write (default: standard output)")
    exporter.set_defaults(run=_export)
    report = actions.add_parser("report", help="counts per recipient x decision x rule")
    _add_filters(report)
    report.set_defaults(run=_report)


def _topic(args: argparse.Namespace, settings: Settings) -> str:
    return str(args.topic or topic_map(settings).decisions)


def _entries(args: argparse.Namespace, settings: Settings) -> list[Entry]:
    if not settings.principal_override:  # reviewers read the log as the reviewer principal
        settings = settings.as_principal(load_principals(settings.policies_dir).reviewer)
    progress = Progress("read", interval=2.0)
    entries = list(read_decision_log(settings, _topic(args, settings), progress))
    if progress.done >= 10_000:
        progress.finish()
    return entries


def _decisions(args: argparse.Namespace, settings: Settings) -> list[PolicyDecision]:
    criteria = DecisionFilter(
        event_id=args.event,
        recipient=args.recipient,
        rule=args.rule,
        decision=args.decision,
        since=args.since,
        until=args.until,
        carried_eu_pnr=True if args.eu_pnr else None,
        delivered_eu_pnr=True if args.received_eu_pnr else None,
        authorization_id=args.authorization,
        delivered=True if args.delivered else None,
    )
    decisions = (e.decision for e in _entries(args, settings) if e.decision is not None)
    return list(criteria.select(decisions))


def _query(args: argparse.Namespace, settings: Settings) -> int:
    decisions = _decisions(args, settings)
    if args.json:
        for line in export(decisions, "json"):
            print(line)
        return 0
    rows = [
        (
            d.decided_at.strftime("%Y-%m-%d %H:%M:%S"),
            d.event_id,
            d.recipient,
            d.decision.label,
            ",".join(d.rules) or "-",
            ",".join(d.removed_fields) or "-",
            ",".join(d.authorization_ids) or "-",
            d.policy_version,
        )
        for d in decisions
    ]
    headers = [
        "decided (UTC)",
        "event",
        "recipient",
        "decision",
        "rules",
        "removed",
        "authorization",
        "policy",
    ]
    print(table(headers, rows))
    print(f"{len(rows)} decision(s)")
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    keys_dir = args.keys or settings.keys_dir
    keys = chain.load_public_keys(keys_dir)
    if not keys:
        raise IntelbusError(f"no public keys (*.pub) in {keys_dir}; pass --keys DIR")
    report = verify_log(_entries(args, settings), keys)
    topic = _topic(args, settings)
    if report.ok:
        print(
            f"OK: {report.decisions} decisions in {report.chains} chain(s), sealed by "
            f"{report.seals} signed seal(s); every link verified ({topic})"
        )
        return 0
    print(f"FAILED: {len(report.problems)} problem(s) in {topic}; the first:", file=sys.stderr)
    for problem in report.problems[:20]:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _export(args: argparse.Namespace, settings: Settings) -> int:
    lines = export(_decisions(args, settings), args.format)
    if args.output is None:
        for line in lines:
            print(line)
        return 0
    staging = args.output.with_suffix(args.output.suffix + ".partial")
    count = 0
    with staging.open("w") as out:
        for line in lines:
            out.write(line + "\n")
            count += 1
    staging.rename(args.output)  # a complete file or none
    print(f"wrote {args.output} ({count} lines)", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    decisions = _decisions(args, settings)
    print(table(["recipient", "decision", "rule", "count"], report_rows(decisions)))
    print(f"{len(decisions)} decision(s)")
    return 0
