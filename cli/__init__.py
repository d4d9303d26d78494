"""The ``intelbus`` command: one sub-command group per module of this package."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from confluent_kafka import KafkaException
from confluent_kafka.schema_registry.error import SchemaRegistryError

from cli import (
    access,
    asyncapi,
    audit,
    check,
    console,
    deconflict,
    demo,
    hit,
    load,
    policy,
    publish,
    router,
    schemas,
    stack,
    subscribe,
    topics,
)
from intelbus import clients
from intelbus.errors import IntelbusError
from intelbus.serde import RegistryUnavailable
from intelbus.settings import Settings

__all__ = ["main"]

GROUPS = (
    demo,
    stack,
    topics,
    access,
    schemas,
    asyncapi,
    publish,
    load,
    hit,
    policy,
    router,
    deconflict,
    subscribe,
    audit,
    check,
    console,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intelbus",
        description="Intelligence-sharing message bus: lookouts and officer-safety alerts on "
        "Kafka, routed under sharing policy, with a tamper-evident decision log.",
    )
    parser.add_argument(
        "--as",
        dest="principal",
        metavar="PRINCIPAL",
        help="connect as this principal of policies/principals.yaml (INTELBUS_PRINCIPAL; "
        "default: the operator)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def _infrastructure_error(error: Exception, settings: Settings) -> str | None:
    """A clear message for a broker or registry that is down or refuses, else None."""
    hint = "is the stack up? (`intelbus stack status`)"
    if isinstance(error, KafkaException):
        refused = clients.refusal(error.args[0], settings)
        if refused is not None:
            return refused
        failed = clients.authentication_failure(settings)
        if failed is not None:
            return failed
        return f"Kafka at {settings.bootstrap_servers}: {error.args[0]}; {hint}"
    if isinstance(error, SchemaRegistryError):
        return f"schema registry at {settings.schema_registry_url}: {error}"
    if isinstance(error, RegistryUnavailable) or type(error).__module__.startswith("httpx"):
        return (
            f"cannot reach the schema registry at {settings.schema_registry_url} ({error}); {hint}"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    if args.principal:
        settings = settings.as_principal(args.principal)
    try:
        return int(args.run(args, settings))
    except IntelbusError as error:
        print(f"intelbus: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; that is not an error of ours. Python's own
        # flush of stdout at exit would fail again: point stdout at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        message = _infrastructure_error(error, settings)
        if message is None:
            raise
        print(f"intelbus: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("intelbus: interrupted", file=sys.stderr)
        return 130
