"""``intelbus deconflict run``: the deconfliction service, until SIGTERM."""

from __future__ import annotations

import argparse
import signal
from types import FrameType
from typing import Any

from intelbus.logs import configure_logging
from intelbus.settings import Settings
from services.deconflict.service import Deconflictor

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "deconflict",
        help="deconfliction: agencies working the same target, or the same place and time",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="match every agency's lookouts and operations, notify both parties, until SIGTERM",
        description="Connects as the deconflict principal; one instance per bus (a second "
        "fences the first). Notices go to the router, which routes and logs each.",
    )
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(args.log_level)
    service = Deconflictor(settings)

    def on_signal(signum: int, _: FrameType | None) -> None:
        service.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    service.run()
    return 0
