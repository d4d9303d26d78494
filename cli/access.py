"""``intelbus access apply | show | check | rotate | revoke | credentials``: who may do what.

The principals are data (policies/principals.yaml, recipients.yaml); the broker's users and
ACLs are made to match it, as the operator.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deploy.stack.local import LocalStack
from intelbus import clients
from intelbus.access.broker import apply_access, inspect_access, revoke, rotate
from intelbus.access.credentials import client_config, render
from intelbus.access.grants import Operation, Resource, plan
from intelbus.access.principals import load_principals
from intelbus.errors import IntelbusError
from intelbus.names import topic_map
from intelbus.settings import Settings
from intelbus.tables import table

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser("access", help="principals, credentials and ACLs")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "apply", help="create missing principals and ACLs, remove extra ones (idempotent)"
    ).set_defaults(run=_apply)
    actions.add_parser(
        "show", help="the matrix: principal x topic x operation (from the data)"
    ).set_defaults(run=_show)
    actions.add_parser(
        "check", help="exit 1 if the broker's users or ACLs differ from the data"
    ).set_defaults(run=_check)
    rotate_parser = actions.add_parser("rotate", help="a new password for a principal")
    rotate_parser.add_argument("principal")
    rotate_parser.set_defaults(run=_rotate)
    revoke_parser = actions.add_parser(
        "revoke", help="delete a principal's credential now (remove it from the data too)"
    )
    revoke_parser.add_argument("principal")
    revoke_parser.set_defaults(run=_revoke)
    credentials = actions.add_parser(
        "credentials", help="a ready client configuration for a principal (contains a secret)"
    )
    credentials.add_argument("--for", "--as", dest="principal", required=True, metavar="PRINCIPAL")
    credentials.add_argument("--format", choices=["librdkafka", "java"], default="librdkafka")
    credentials.set_defaults(run=_credentials)


def _sync_local_registry(settings: Settings) -> None:
    """The local stack's registry knows the principals by their bus passwords: give it the
    current ones (it restarts when they changed). A registry elsewhere is left alone, and
    so are the brokers."""
    if LocalStack(settings, say=lambda _: None).restart_registry_for_users():
        print("the local schema registry restarted with the current credentials")


def _operator(settings: Settings) -> Settings:
    return settings.as_principal(load_principals(settings.policies_dir).operator)


def _apply(_: argparse.Namespace, settings: Settings) -> int:
    settings = _operator(settings)
    principals = load_principals(settings.policies_dir)
    done = apply_access(clients.admin(settings), settings, topic_map(settings), principals)
    for line in done:
        print(line)
    _sync_local_registry(settings)
    print(f"access matches policies/ ({len(principals.all)} principals); {len(done)} change(s)")
    return 0


def _check(_: argparse.Namespace, settings: Settings) -> int:
    settings = _operator(settings)
    principals = load_principals(settings.policies_dir)
    state = inspect_access(clients.admin(settings), settings, topic_map(settings), principals)
    for line in state.drift:
        print(line)
    if state.drift:
        print(f"{len(state.drift)} difference(s); `intelbus access apply` repairs them")
        return 1
    print(f"access matches policies/ ({len(principals.all)} principals)")
    return 0


def _show(_: argparse.Namespace, settings: Settings) -> int:
    principals = load_principals(settings.policies_dir)
    topics = topic_map(settings)
    grants = plan(settings, topics, principals)
    rows = []
    for spec in topics.specs(principals):
        readers = sorted(
            g.principal
            for g in grants
            if g.resource is Resource.TOPIC
            and g.name == spec.name
            and g.operation is Operation.READ
        )
        writers = sorted(
            g.principal
            for g in grants
            if g.resource is Resource.TOPIC
            and g.name == spec.name
            and g.operation is Operation.WRITE
        )
        rows.append([spec.name, ", ".join(readers) or "-", ", ".join(writers) or "-"])
    print(table(["topic", "read", "write"], rows))
    print(
        f"\n{principals.operator} is a super user. Each principal's groups and transactional "
        f"ids: `{settings.topic_prefix}<principal>.*` only. Anything not listed is denied."
    )
    return 0


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    settings = _operator(settings)
    _known(settings, args.principal)
    rotate(clients.admin(settings), settings, args.principal)
    _sync_local_registry(settings)
    print(
        f"new password for {args.principal} (in {settings.secrets_dir}); hand out "
        f"`intelbus access credentials --for {args.principal}` again"
    )
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    settings = _operator(settings)
    if not revoke(clients.admin(settings), settings, args.principal):
        print(f"{args.principal} had no credential", file=sys.stderr)
        return 1
    _sync_local_registry(settings)
    print(f"revoked {args.principal}: it can no longer connect")
    return 0


def _credentials(args: argparse.Namespace, settings: Settings) -> int:
    _known(settings, args.principal)
    sys.stdout.write(render(client_config(settings, args.principal), args.format))
    return 0


def _known(settings: Settings, principal: str) -> None:
    if load_principals(settings.policies_dir).named(principal) is None:
        raise IntelbusError(f"no principal {principal!r} in {settings.policies_dir}")
