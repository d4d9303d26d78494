"""``python -m tests.chaos`` (``make chaos``): the fault suite on a three-broker cluster.

The cluster is the stack of INTELBUS_HOME, by default ``~/.intelbus-chaos`` on ports of its
own (clients 29092, 29192, 29292; registry 28081) so that it never meets the default stack;
it is started with three brokers if it is not running, and stopped afterwards if this run
started it. Prints the events published, the faults injected (with their times) and the
checker's counts; exits 1 unless exactly once held.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from deploy.stack.local import LocalStack
from intelbus import serde
from intelbus.settings import Settings
from tests.chaos.run import Plan, run_chaos

_OWN_STACK = {
    "home": Path.home() / ".intelbus-chaos",
    "kafka_port": 29092,
    "controller_port": 29093,
    "internal_port": 29094,
    "registry_port": 28081,
    "registry_management_port": 29081,
    "kafka_heap": "512m",
    "cache_dir": Settings().artifact_cache,  # the default stack's fetched artifacts
}


def _settings() -> Settings:
    """The chaos stack's settings, each overridden by its INTELBUS_* variable when set."""
    unset = {k: v for k, v in _OWN_STACK.items() if f"INTELBUS_{k.upper()}" not in os.environ}
    return Settings(**unset)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=600.0, help="events/s published")
    parser.add_argument("--seed", type=int, default=7, help="where the faults fall")
    parser.add_argument("--workdir", type=Path, help="ack log, receipts, process logs")
    args = parser.parse_args()

    def say(line: str) -> None:
        print(f"[chaos] {line}", flush=True)

    stack = LocalStack(_settings(), say=say, brokers=3)
    was_running = stack.is_up()
    stack.up()
    serde.register_schemas(serde.registry_client(stack.operator), stack.settings.schemas_dir)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="intelbus-chaos-"))
    say(f"work directory {workdir}")
    try:
        outcome = run_chaos(
            stack,
            Plan(events=args.events, rate=args.rate, seed=args.seed),
            workdir,
            workdir / "keys",
            say,
        )
    finally:
        if not was_running:
            stack.down()
    print("\n".join(outcome.lines()))
    clean = outcome.report.ok and not outcome.report.dead_letters
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
