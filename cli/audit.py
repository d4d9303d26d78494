"""``intelbus audit query | verify | export | report``: the decision log, for reviewers.

Everything is read from the decisions topic (read_committed); there is no local index.
``verify`` also reads the chain heads the router committed with its offsets, and the
reviewer's own checkpoint file, to tell a log cut short (consumers/audit/anchors.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consumers.audit.anchors import Anchor, committed_anchors
from consumers.audit.checkpoint import load_checkpoint, save_checkpoint
from consumers.audit.log import Entry, read_decision_log
from consumers.audit.query import DecisionFilter, export, report_rows
from consumers.audit.trust import read_trusted_keys
from consumers.audit.verify import Report, verify_log
from intelbus.access.principals import load_principals
from intelbus.errors import IntelbusError
from intelbus.models import Decision, PolicyDecision
from intelbus.names import router_group, topic_map
from intelbus.progress import Progress
from intelbus.settings import Settings
from intelbus.tables import table
from services.router.progress import LANE_OF_ROLE

__all__ = ["as_reviewer", "register", "router_anchors", "verify_bus"]

_NO_TRUSTED_KEYS = (
    "audit verify needs the keys you trust to sign the log: --trusted-keys FILE, one "
    "'ed25519 <base64 public key>' line each (`intelbus router public-key` prints the "
    "router's, to check and pin). It never trusts the router's own key directory: whoever "
    "can write there could sign a forged log."
)


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
    verify = actions.add_parser(
        "verify",
        help="check hash chains, signed seals and that the log was not cut short; exit 1 on "
        "any problem",
    )
    verify.add_argument(
        "--trusted-keys",
        type=Path,
        metavar="FILE",
        help="the keys you trust to sign the log (required): lines 'ed25519 <base64 key>', as "
        "`intelbus router public-key` prints them; rotations from them are followed",
    )
    verify.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="your own record of the log: the log must still hold the seals it keeps; "
        "rewritten with the latest ones after a verify without problems (created if missing)",
    )
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


def as_reviewer(settings: Settings) -> Settings:
    """The settings of the reviewer principal, unless another was asked for (`--as`)."""
    if settings.principal_override:
        return settings
    return settings.as_principal(load_principals(settings.policies_dir).reviewer)


def _read(settings: Settings, topic: str) -> list[Entry]:
    """The whole log, read as the reviewer principal (unless told otherwise)."""
    progress = Progress("read", interval=2.0)
    entries = list(read_decision_log(as_reviewer(settings), topic, progress))
    if progress.done >= 10_000:
        progress.finish()
    return entries


def _entries(args: argparse.Namespace, settings: Settings) -> list[Entry]:
    return _read(settings, _topic(args, settings))


def _router_lanes(settings: Settings) -> dict[str, list[str]]:
    """Each router lane's consumer group and the inbound topics it consumes."""
    topics, principals = topic_map(settings), load_principals(settings.policies_dir)
    lanes: dict[str, list[str]] = {}
    for role, lane in LANE_OF_ROLE.items():  # a lane may consume several roles' topics
        lanes.setdefault(router_group(settings, lane), []).extend(
            topics.of_publisher(role, p.id).name for p in principals.publishers
        )
    # Deconfliction notices and checks are decided on the officer-safety lane.
    lanes[router_group(settings, "officer-safety")].append(topics.deconflict_notices)
    return lanes


def router_anchors(settings: Settings) -> list[Anchor]:
    """The chain heads the router's lanes have committed: the log must still hold them."""
    return committed_anchors(as_reviewer(settings), _router_lanes(settings))


def verify_bus(
    settings: Settings,
    topic: str,
    trusted_keys: dict[str, Ed25519PublicKey],
    checkpoint: Path | None = None,
) -> Report:
    """The decisions topic verified against the keys, the router's committed chain heads
    and the checkpoint (read before the log, so every head committed is older than it)."""
    anchors = router_anchors(settings)
    if checkpoint is not None:
        anchors += load_checkpoint(checkpoint, topic)
    report = verify_log(_read(settings, topic), trusted_keys, anchors)
    if report.cut_short:
        # A transaction committing while the heads were read can show its offsets before
        # its records: read the log once more before calling it cut short.
        report = verify_log(_read(settings, topic), trusted_keys, anchors)
    return report


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
    if args.trusted_keys is None:
        raise IntelbusError(_NO_TRUSTED_KEYS)
    trusted = read_trusted_keys(args.trusted_keys)
    topic = _topic(args, settings)
    report = verify_bus(settings, topic, trusted, args.checkpoint)
    if not report.ok:
        print(f"FAILED: {len(report.problems)} problem(s) in {topic}; the first:", file=sys.stderr)
        for problem in report.problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(
        f"OK: {report.decisions} decisions in {report.chains} chain(s), sealed by "
        f"{report.seals} signed seal(s); every link verified ({topic})\n"
        f"  signed by trusted key(s) {', '.join(report.keys)} "
        f"({report.rotations} key rotation(s) followed)"
    )
    if report.anchors:
        print(f"  not cut short: the log holds all {report.anchors} chain head(s) checked")
    else:
        print(
            "  nothing to check a cut against: the router has committed no chain head (a new "
            "bus, or its consumer groups were deleted) and no checkpoint was kept"
        )
    if args.checkpoint is not None:
        save_checkpoint(args.checkpoint, topic, report.heads.values())
        print(f"  checkpoint {args.checkpoint} written: {len(report.heads)} chain head(s)")
    return 0


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
