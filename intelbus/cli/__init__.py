"""The ``intelbus`` command: one sub-command group per module of this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from consumers import cli as subscribe
from consumers.audit import cli as audit
from intelbus.cli import policy, schemas, stack, topics
from intelbus.errors import IntelbusError
from intelbus.settings import Settings
from producers import cli as publish
from services import demo
from services.router import cli as router

__all__ = ["main"]

GROUPS = (demo, stack, topics, schemas, publish, policy, router, subscribe, audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intelbus",
        description="Intelligence-sharing message bus: lookouts and officer-safety alerts on "
        "Kafka, routed under sharing policy, with a tamper-evident decision log.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args, Settings()))
    except IntelbusError as error:
        print(f"intelbus: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("intelbus: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours.
        sys.stderr.close()
        return 0
