"""``intelbus stack up | down | status | logs``: the local Kafka + registry stack."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from deploy.stack.local import LocalStack
from intelbus.errors import IntelbusError
from intelbus.settings import Settings

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser("stack", help="run the local Kafka + schema registry")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "up", help="fetch artifacts once, start both, wait until healthy"
    ).set_defaults(run=_up)
    actions.add_parser("down", help="stop both (SIGTERM, then SIGKILL)").set_defaults(run=_down)
    actions.add_parser(
        "init", help="make the CA, certificates, operator credential for docker compose"
    ).set_defaults(run=_init)
    actions.add_parser("status", help="pids, addresses, health, data directory").set_defaults(
        run=_status
    )
    logs = actions.add_parser("logs", help="show a server's log")
    logs.add_argument("service", choices=["kafka", "registry"], nargs="?", default="kafka")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.set_defaults(run=_logs)


def _up(_: argparse.Namespace, settings: Settings) -> int:
    LocalStack(settings).up()
    return 0


def _init(_: argparse.Namespace, settings: Settings) -> int:
    config = LocalStack(settings).init_for_docker()
    print(f"ready for `INTELBUS_HOME={settings.home} docker compose up -d`: {config}")
    return 0


def _down(_: argparse.Namespace, settings: Settings) -> int:
    LocalStack(settings).down()
    return 0


def _status(_: argparse.Namespace, settings: Settings) -> int:
    statuses = LocalStack(settings).status()
    print(f"{'service':<10} {'state':<20} {'pid':>8}  address")
    for service in statuses:
        pid = str(service.pid) if service.pid else "-"
        print(f"{service.name:<10} {service.state:<20} {pid:>8}  {service.address}")
    print(f"home: {settings.home}  (data: kafka/data, registry/data; logs: logs/)")
    return 0 if all(service.healthy for service in statuses) else 3


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    stack = LocalStack(settings)
    process = stack.kafka if args.service == "kafka" else stack.registry
    if not process.log_file.exists():
        raise IntelbusError(f"no log yet at {process.log_file}; has the stack been started?")
    print(process.tail(args.lines))
    if not args.follow:
        return 0
    with process.log_file.open("rb") as log:
        log.seek(0, 2)
        while True:
            line = log.readline()
            if line:
                sys.stdout.write(line.decode(errors="replace"))
                sys.stdout.flush()
            else:
                time.sleep(0.2)  # tail -f: wait for the server to write more
