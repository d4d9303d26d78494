"""``intelbus hit report|confirm|decline``: a hit on a lookout, and its originator's answer.

A report goes to the originator at once and opens a deadline by the lookout's priority
(policies/hits.yaml); an answer goes back to the reporter; unanswered, the router escalates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import uuid
from typing import Any

from pydantic import ValidationError

from intelbus.errors import IntelbusError
from intelbus.models import HitAnswer, HitReport
from intelbus.settings import Settings
from producers.publisher import Publisher

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "hit",
        help="report a hit on a lookout, or answer one as its originator",
        description="Publishes on the hits topic of the agency named by --by (connect as its "
        "publisher: --as publisher-<agency>).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = actions.add_parser("report", help="the subject of a lookout was found")
    report.add_argument("--hit", help="the hit's id (default: a new one)")
    report.add_argument("--place", required=True, help="port of entry, checkpoint, station")
    for verb, what in (("confirm", "the lookout stands: act"), ("decline", "do not act")):
        answer = actions.add_parser(verb, help=f"answer a hit on your lookout: {what}")
        answer.add_argument("--hit", required=True, help="the hit's id")
    for action in actions.choices.values():
        action.add_argument("--event", required=True, help="the lookout's event id")
        action.add_argument("--by", required=True, metavar="AGENCY", help="your agency id")
        action.add_argument("--detail", required=True, help="what, whom to call, or why")
    parser.set_defaults(run=_run)


def _record(args: argparse.Namespace) -> HitReport | HitAnswer:
    now = dt.datetime.now(dt.UTC)
    if args.action == "report":
        return HitReport(
            hit_id=args.hit or f"hit-{uuid.uuid4().hex[:12]}",
            event_id=args.event,
            reported_by=args.by,
            reported_at=now,
            place=args.place,
            detail=args.detail,
        )
    return HitAnswer(
        hit_id=args.hit,
        event_id=args.event,
        answered_by=args.by,
        answered_at=now,
        confirmed=args.action == "confirm",
        detail=args.detail,
    )


def _run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        record = _record(args)
    except ValidationError as invalid:
        problems = "; ".join(
            f"--{'.'.join(str(part) for part in error['loc']).replace('_', '-')}: {error['msg']}"
            for error in invalid.errors()
        )
        raise IntelbusError(f"hit {args.action}: {problems}") from None
    delivery = Publisher(settings).publish(record)
    print(
        f"{record.hit_id}: {args.action} published on {delivery.topic} (offset {delivery.offset})"
    )
    return 0
