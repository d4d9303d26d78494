"""``intelbus schemas register | show``: the Avro contract in the schema registry."""

from __future__ import annotations

import argparse
from typing import Any

from intelbus import serde
from intelbus.settings import Settings

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser("schemas", help="register the Avro schemas")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "register", help=f"register every message schema, compatibility {serde.COMPATIBILITY}"
    ).set_defaults(run=_register)
    show = actions.add_parser("show", help="print a message type's expanded schema")
    show.add_argument("name", choices=[model.avro_name for model in serde.MESSAGE_TYPES])
    show.set_defaults(run=_show)


def _register(_: argparse.Namespace, settings: Settings) -> int:
    ids = serde.register_schemas(serde.registry_client(settings), settings.schemas_dir)
    for subject, schema_id in ids.items():
        print(f"{subject:<36} id {schema_id:<5} compatibility {serde.COMPATIBILITY}")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    print(serde.expanded_schema(settings.schemas_dir, args.name))
    return 0
