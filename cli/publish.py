"""``intelbus publish lookout|alert|authorization|outcome|withdrawal|operation FILE|-``: all or
nothing."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from intelbus.models import (
    CaseOutcome,
    DisclosureAuthorization,
    Lookout,
    OfficerSafetyAlert,
    Operation,
    Record,
    Withdrawal,
)
from intelbus.progress import Progress
from intelbus.settings import Settings
from producers.input import parse_file
from producers.publisher import Publisher

__all__ = ["register", "validated_records"]

KINDS: dict[str, type[Record]] = {
    "lookout": Lookout,
    "alert": OfficerSafetyAlert,
    "authorization": DisclosureAuthorization,
    "outcome": CaseOutcome,
    "withdrawal": Withdrawal,
    "operation": Operation,
}
_SHOWN_PROBLEMS = 50


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "publish",
        help="validate and publish records from JSON or NDJSON",
        description="Validates every record first; if any is invalid, prints line, field and "
        "reason for each and publishes nothing. Otherwise publishes all of them in one "
        "transaction and reports how many the broker acknowledged.",
    )
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("file", help="a .json or .ndjson file, or - for standard input")
    parser.set_defaults(run=_publish)


def validated_records(file: str, model: type[Record], settings: Settings) -> list[Record] | None:
    """Every record of ``file``, validated before anything connects (bad input never reaches
    Kafka); None, with each problem printed, if any is invalid or there is none."""
    records: list[Record] = []
    validating = Progress("validated")

    def keep(record: Record) -> None:
        records.append(record)
        validating.advance()

    count, problems = parse_file(file, model, keep, settings)
    validating.finish()
    if problems:
        for problem in problems[:_SHOWN_PROBLEMS]:
            print(f"{file}: {problem}", file=sys.stderr)
        if len(problems) > _SHOWN_PROBLEMS:
            print(f"... and {len(problems) - _SHOWN_PROBLEMS} more problems", file=sys.stderr)
        bad = len({problem.where for problem in problems})
        print(f"{bad} of {count} records invalid; nothing was published", file=sys.stderr)
        return None
    if not records:
        print(f"{file}: no records found; nothing was published", file=sys.stderr)
        return None
    return records


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    records = validated_records(args.file, KINDS[args.kind], settings)
    if records is None:
        return 1
    publisher = Publisher(settings, client_id=f"intelbus-publish-{args.kind}")
    batch = [publisher.encode(record) for record in records]
    publishing = Progress("published", total=len(batch))
    acknowledged = publisher.publish_batch(batch, publishing)
    publishing.finish()
    elapsed = time.monotonic() - started
    print(
        f"published {acknowledged:,} {args.kind} record(s) to {batch[0].topic}, acknowledged by "
        f"the broker; validated and published in {elapsed:.1f}s ({acknowledged / elapsed:,.0f}/s)"
    )
    return 0
