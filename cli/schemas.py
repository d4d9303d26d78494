"""``intelbus schemas register | show | fingerprints``: the Avro contract in the schema
registry, and the versions of it that readers accept."""

from __future__ import annotations

import argparse
from typing import Any

from intelbus import contract, serde
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
    pins = actions.add_parser(
        "fingerprints",
        help=f"print the pinned writer schemas ({contract.FINGERPRINTS_FILE}) from the texts",
    )
    pins.add_argument(
        "--write", action="store_true", help=f"write them to schemas/{contract.FINGERPRINTS_FILE}"
    )
    pins.set_defaults(run=_fingerprints)


def _register(_: argparse.Namespace, settings: Settings) -> int:
    ids = serde.register_schemas(serde.registry_client(settings), settings.schemas_dir)
    for subject, schema_id in ids.items():
        print(f"{subject:<36} id {schema_id:<5} compatibility {serde.COMPATIBILITY}")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    print(serde.expanded_schema(settings.schemas_dir, args.name))
    return 0


def _fingerprints(args: argparse.Namespace, settings: Settings) -> int:
    text = contract.render(contract.versions(settings.schemas_dir))
    if not args.write:
        print(text, end="")
        return 0
    path = settings.schemas_dir.parent / contract.FINGERPRINTS_FILE
    path.write_text(text)
    print(f"wrote {path}")
    return 0
