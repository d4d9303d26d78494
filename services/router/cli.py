"""``intelbus router run``: the policy router, until SIGTERM."""

from __future__ import annotations

import argparse
from typing import Any

from intelbus.logs import configure_logging
from intelbus.settings import Settings
from services.router.service import Router

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser("router", help="run the policy router")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="route inbound events to the recipients' feeds, exactly once, until SIGTERM",
    )
    run.add_argument("--instance", help="distinct id per router process (INTELBUS_ROUTER_INSTANCE)")
    run.add_argument("--commit-interval-ms", type=int, help="lookout lane batching (default 100)")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(args.log_level)
    overrides: dict[str, Any] = {}
    if args.instance:
        overrides["router_instance"] = args.instance
    if args.commit_interval_ms is not None:
        overrides["commit_interval_ms"] = args.commit_interval_ms
    settings = settings.model_copy(update=overrides)
    return Router(settings).run()
