"""``intelbus load lookout|alert FILE --acks ACKS``: publish events one by one, recording
the broker's answer to each (producers/load.py), for ``intelbus check``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.publish import validated_records
from intelbus.acks import AckWriter
from intelbus.models import Lookout, OfficerSafetyAlert
from intelbus.settings import Settings
from producers.load import publish_recorded

__all__ = ["register"]

KINDS: dict[str, type[Lookout] | type[OfficerSafetyAlert]] = {
    "lookout": Lookout,
    "alert": OfficerSafetyAlert,
}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "load",
        help="publish events one by one at a steady rate, recording each one's ack",
        description="Validates every event first (nothing is sent if any is invalid), then "
        "publishes each on its own (idempotent, acks=all) and appends to the ack log whether "
        "the broker acknowledged it (and where) or the error the publisher got.",
    )
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("file", help="a .json or .ndjson file, or - for standard input")
    parser.add_argument("--acks", type=Path, required=True, metavar="FILE", help="the ack log")
    parser.add_argument("--rate", type=float, help="events per second at most (default: no limit)")
    parser.set_defaults(run=_load)


def _load(args: argparse.Namespace, settings: Settings) -> int:
    records = validated_records(args.file, KINDS[args.kind], settings)
    if records is None:
        return 1
    with AckWriter(args.acks) as acks:
        result = publish_recorded(settings, records, acks, rate=args.rate)
    print(
        f"{result.sent} sent: {result.acked} acked, {result.failed} failed, "
        f"{result.unknown} unknown (ack log {args.acks})"
    )
    return 0 if result.acked == result.sent else 1
