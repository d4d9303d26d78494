"""``intelbus router run``: the policy router, until SIGTERM; and its decision-signing key:
``public-key`` (for reviewers to pin), ``rotate-key`` (recorded in the log), ``new-key``
(where there is none: see services/router/keys.py)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from intelbus import keydir
from intelbus.access.principals import load_principals
from intelbus.chain import public_key_line
from intelbus.logs import configure_logging
from intelbus.settings import Settings
from services.router.keys import mint_key, rotate_key
from services.router.service import LANES, Router
from services.router.supervisor import die_with_parent, supervise

__all__ = ["register"]

BULK_LANE_NICENESS = 10


def register(commands: Any) -> None:
    parser = commands.add_parser("router", help="run the policy router")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="route inbound events to the recipients' feeds, exactly once, until SIGTERM",
        description="Each lane (lookouts, officer-safety) runs in a process of its own.",
    )
    run.add_argument(
        "--instance", help="distinct id per router of one group (INTELBUS_ROUTER_INSTANCE)"
    )
    run.add_argument("--commit-interval-ms", type=int, help="lookout lane batching (default 100)")
    run.add_argument(
        "--lookout-workers",
        type=int,
        help="lookout-lane processes sharing its partitions (default 1; INTELBUS_LOOKOUT_WORKERS)",
    )
    run.add_argument("--lane", choices=LANES, help="run only this lane, in this process")
    run.add_argument("--threads", action="store_true", help="all lanes as threads of one process")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(run=_run)
    public = actions.add_parser(
        "public-key",
        help="print the router's public signing key, as a line of a reviewer's trusted keys",
    )
    public.set_defaults(run=_public_key)
    rotate = actions.add_parser(
        "rotate-key",
        help="hand signing over to a new key, recorded in the decision log (router stopped)",
        description="Writes a KeyRotation, signed by the current key and naming the new one, "
        "to the decisions topic; reviewers who trust the current key trust the new one from "
        "then on. Refused while a router lane runs. Run again to finish an interrupted one.",
    )
    rotate.set_defaults(run=_rotate_key)
    new = actions.add_parser(
        "new-key",
        help="mint a signing key where there is none (before the first start, or after a "
        "key was lost: reviewers must then pin the new one by hand)",
    )
    new.set_defaults(run=_new_key)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(args.log_level)
    overrides: dict[str, Any] = {}
    if args.instance:
        overrides["router_instance"] = args.instance
    if args.commit_interval_ms is not None:
        overrides["commit_interval_ms"] = args.commit_interval_ms
    if args.lookout_workers is not None:
        overrides["lookout_workers"] = args.lookout_workers
    settings = settings.model_copy(update=overrides)
    if args.lane:
        die_with_parent()
        if args.lane == "lookouts":
            # The bulk lane yields the CPU to the officer-safety lane (and the broker).
            os.nice(BULK_LANE_NICENESS)
        return Router(settings, lanes=(args.lane,)).run()
    if args.threads:
        return Router(settings).run()
    # Validate the policy set here too, so a bad policy fails before any lane starts.
    Router(settings, lanes=())
    return supervise(_lane_commands(settings, args.log_level))


def _lane_commands(settings: Settings, log_level: str) -> dict[str, list[str]]:
    """One command per lane process; each lookout worker is an instance of its own (its own
    transactional id and static group membership) in the lookouts lane's consumer group."""
    base = [
        sys.executable,
        "-m",
        "cli",
        "router",
        "run",
        f"--log-level={log_level}",
        f"--commit-interval-ms={settings.commit_interval_ms}",
    ]
    instance = settings.router_instance
    commands = {"officer-safety": [*base, f"--instance={instance}", "--lane=officer-safety"]}
    workers = settings.lookout_workers
    for worker in range(workers):
        name = "lookouts" if workers == 1 else f"lookouts-{worker}"
        worker_instance = instance if workers == 1 else f"{instance}.w{worker}"
        commands[name] = [*base, f"--instance={worker_instance}", "--lane=lookouts"]
    return commands


def _as_router(settings: Settings) -> Settings:
    if settings.principal_override:
        return settings
    return settings.as_principal(load_principals(settings.policies_dir).router)


def _public_key(_: argparse.Namespace, settings: Settings) -> int:
    print(public_key_line(keydir.load_signer(settings.keys_dir).public_key))
    return 0


def _rotate_key(_: argparse.Namespace, settings: Settings) -> int:
    rotation = rotate_key(_as_router(settings), LANES)
    print(
        f"key {rotation.retired} retired; key {rotation.signer.key_id} signs from now on.\n"
        f"The rotation is at {rotation.record} (topic/partition/offset): reviewers who pin "
        "the old key follow it. The new key, to pin directly:\n"
        f"{public_key_line(rotation.signer.public_key)}"
    )
    return 0


def _new_key(_: argparse.Namespace, settings: Settings) -> int:
    signer = mint_key(settings)
    print(
        f"minted key {signer.key_id} in {settings.keys_dir}. Nothing in the log vouches for "
        "it: give this line to the reviewers to pin (--trusted-keys):\n"
        f"{public_key_line(signer.public_key)}"
    )
    return 0
