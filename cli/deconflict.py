"""``intelbus deconflict run``: the deconfliction service, until SIGTERM; ``intelbus
deconflict check FILE``: ask whether anyone works a target or a place before acting."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import Any

from consumers.render import deconfliction_line
from intelbus.logs import configure_logging
from intelbus.models import DeconflictionCheck
from intelbus.settings import Settings
from producers.input import parse_file
from producers.publisher import Publisher
from services.deconflict.check import answers, wait_until_answered
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
    check = actions.add_parser(
        "check",
        help="ask whether anyone works these targets, or this place in this window",
        description="Publishes the question (a DeconflictionCheck, JSON) as its asker's "
        "agency; the deconfliction service answers the asker alone, with each other party's "
        "point of contact and event id, never its content. The question is logged in the "
        "policy log. Prints the answers once the service has read the question.",
    )
    check.add_argument("file", help="a .json file with one DeconflictionCheck, or -")
    check.add_argument("--timeout", type=float, default=60.0, help="seconds to await the answer")
    check.set_defaults(run=_check)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(args.log_level)
    service = Deconflictor(settings)

    def on_signal(signum: int, _: FrameType | None) -> None:
        service.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    service.run()
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    questions: list[DeconflictionCheck] = []
    _, problems = parse_file(args.file, DeconflictionCheck, questions.append, settings)
    if problems or len(questions) != 1:
        for problem in problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        if not problems:
            print(f"{args.file}: expected one check, found {len(questions)}", file=sys.stderr)
        return 1
    (question,) = questions
    asked = Publisher(settings, client_id="intelbus-deconflict-check").publish(question)
    wait_until_answered(settings, asked, timeout=args.timeout)
    found = answers(settings, question)
    if not found:
        print(f"no other agency is known to work this ({question.check_id}); asked and logged")
    for notice in found:
        print(deconfliction_line(notice))
    return 0
