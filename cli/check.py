"""``intelbus check``: hold a bus to exactly once (consumers/checker), with counts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.audit import router_anchors
from consumers.audit.trust import read_trusted_keys
from consumers.checker.bus import check_bus
from intelbus.jsonout import dumps
from intelbus.settings import Settings

__all__ = ["register"]


def _receipt(value: str) -> tuple[str, Path]:
    recipient, separator, path = value.partition("=")
    if not separator or not recipient or not path:
        raise argparse.ArgumentTypeError(f"expected RECIPIENT=FILE, got {value!r}")
    return recipient, Path(path)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="check exactly once: every acked event decided and delivered once per recipient",
        description="Reads the whole bus read_committed (and read_uncommitted, to count "
        "aborted records), the publishers' ack logs and the subscribers' receipts, and "
        "counts what was lost, duplicated, read uncommitted or out of order, and whether the "
        "decision log's chains verify. Exit status 0 only if exactly once holds. Run it once "
        "the bus is quiet (publishers done, the router caught up).",
    )
    parser.add_argument(
        "--trusted-keys",
        type=Path,
        required=True,
        metavar="FILE",
        help="the keys trusted to sign the decision log, as for `intelbus audit verify`",
    )
    parser.add_argument(
        "--acks",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="an ack log of `intelbus load` (repeatable)",
    )
    parser.add_argument(
        "--receipts",
        type=_receipt,
        action="append",
        default=[],
        metavar="RECIPIENT=FILE",
        help="what a subscriber handled: the output of `intelbus subscribe --as RECIPIENT "
        "--json` (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="the report as one JSON object")
    parser.set_defaults(run=_check)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    trusted = read_trusted_keys(args.trusted_keys)
    report = check_bus(settings, trusted, router_anchors(settings), args.acks, dict(args.receipts))
    print(dumps(report.as_json()) if args.json else "\n".join(report.lines()))
    return 0 if report.ok else 1
