"""``intelbus stack up | down | status | logs | init | reset``: the local Kafka + registry stack
(one Kafka node, or a cluster of them with ``up --brokers N``)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from deploy.stack.cluster import MAX_BROKERS
from deploy.stack.local import LocalStack
from intelbus.errors import IntelbusError
from intelbus.settings import Settings

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser("stack", help="run the local Kafka + schema registry")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="fetch artifacts once, start all, wait until healthy")
    init = actions.add_parser(
        "init", help="make the CA, certificates, operator credential for docker compose"
    )
    for action in (up, init):
        action.add_argument(
            "--brokers",
            type=int,
            choices=range(1, MAX_BROKERS + 1),
            metavar=f"1..{MAX_BROKERS}",
            help="Kafka nodes (combined broker + controller); kept in INTELBUS_HOME, so later "
            "commands need it only for a new home (default 1)",
        )
    up.set_defaults(run=_up)
    init.set_defaults(run=_init)
    actions.add_parser("down", help="stop all (SIGTERM, then SIGKILL)").set_defaults(run=_down)
    actions.add_parser("status", help="pids, addresses, health, data directory").set_defaults(
        run=_status
    )
    reset = actions.add_parser(
        "reset", help="stop all and delete the brokers' and registry's data (and cluster size)"
    )
    reset.add_argument("--yes", action="store_true", help="really delete the data")
    reset.set_defaults(run=_reset)
    logs = actions.add_parser("logs", help="show a server's log")
    logs.add_argument(
        "service", nargs="?", default="kafka", help="kafka (kafka-1, kafka-2, ...) or registry"
    )
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.set_defaults(run=_logs)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    stack = LocalStack(settings, brokers=args.brokers)
    stack.up()
    if stack.cluster.brokers > 1 and not settings.bootstrap_servers_override:
        print(f"clients: export KAFKA_BOOTSTRAP_SERVERS={stack.bootstrap_servers}")
    return 0


def _init(args: argparse.Namespace, settings: Settings) -> int:
    stack = LocalStack(settings, brokers=args.brokers)
    configs = stack.init_for_docker()
    compose = "" if stack.cluster.brokers == 1 else " -f docker-compose.cluster.yml"
    print(f"ready for `INTELBUS_HOME={settings.home} docker compose{compose} up -d`:")
    for config in configs:
        print(f"  {config}")
    return 0


def _down(_: argparse.Namespace, settings: Settings) -> int:
    LocalStack(settings).down()
    return 0


def _reset(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        raise IntelbusError(
            f"reset deletes every topic, message and schema of the stack in {settings.home}; "
            "run `intelbus stack reset --yes` to do it"
        )
    LocalStack(settings).reset()
    return 0


def _status(_: argparse.Namespace, settings: Settings) -> int:
    statuses = LocalStack(settings).status()
    print(f"{'service':<10} {'state':<20} {'pid':>8}  address")
    for service in statuses:
        pid = str(service.pid) if service.pid else "-"
        print(f"{service.name:<10} {service.state:<20} {pid:>8}  {service.address}")
    print(f"home: {settings.home}  (data: kafka*/data, registry/data; logs: logs/)")
    return 0 if all(service.healthy for service in statuses) else 3


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    stack = LocalStack(settings)
    name = "kafka-1" if args.service == "kafka" and stack.cluster.brokers > 1 else args.service
    process = stack.process(name)
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
