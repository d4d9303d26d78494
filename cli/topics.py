"""``intelbus topics apply | list``: the bus's topics, declared in deploy/topics.yaml."""

from __future__ import annotations

import argparse
from typing import Any

from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.names import topic_map
from intelbus.settings import Settings
from intelbus.topics import apply_topics

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser("topics", help="create and configure the bus's topics")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "apply", help="create missing topics and align configs (idempotent)"
    ).set_defaults(run=_apply)
    actions.add_parser("list", help="show the declared topics").set_defaults(run=_list)


def _specs(settings: Settings) -> list[Any]:
    return topic_map(settings).specs(load_principals(settings.policies_dir))


def _apply(_: argparse.Namespace, settings: Settings) -> int:
    outcome = apply_topics(clients.admin(settings), _specs(settings))
    for name, what in outcome.items():
        print(f"{name:<45} {what}")
    return 0


def _list(_: argparse.Namespace, settings: Settings) -> int:
    for spec in _specs(settings):
        config = ", ".join(f"{k}={v}" for k, v in sorted(spec.config.items()))
        print(f"{spec.name:<45} partitions={spec.partitions} rf={spec.replication_factor} {config}")
    return 0
