"""``intelbus console [serve] | sync | rebuild | password``: the compliance console.

The console keeps its own store of the decision log (consumers/console_store/) in its
directory (default ``<INTELBUS_HOME>/console``, owner-only), reads the bus as the reviewer,
and serves its pages on 127.0.0.1 (services/console/). ``sync`` runs only the store's
follower (until SIGTERM), ``rebuild`` makes the store again from the topics.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from cli.audit import as_reviewer, verify_bus
from consumers.audit.trust import read_trusted_keys
from consumers.console_store.follow import Follower
from consumers.console_store.store import Store
from intelbus.names import topic_map
from intelbus.progress import Progress
from intelbus.secrets import make_private_directory
from intelbus.settings import Settings

__all__ = ["register"]

STORE_FILE = "store.sqlite"


def register(commands: Any) -> None:
    parser = commands.add_parser("console", help="the compliance console (a web application)")
    parser.add_argument(
        "--dir",
        type=Path,
        help="the console's own directory: its store and password (default: "
        "<INTELBUS_HOME>/console)",
    )
    parser.set_defaults(run=_serve, host="127.0.0.1", port=8600, trusted_keys=None)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the console (the default)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8600, help="port (8600)")
    serve.add_argument(
        "--trusted-keys",
        type=Path,
        metavar="FILE",
        help="the keys you trust to sign the log, as for `audit verify`: the chain page "
        "verifies with them",
    )
    serve.set_defaults(run=_serve)
    sync = actions.add_parser("sync", help="keep the store up to date, without serving")
    sync.add_argument("--batch", type=int, default=1000, help="records per transaction")
    sync.set_defaults(run=_sync)
    rebuild = actions.add_parser("rebuild", help="make the store again from the topics")
    rebuild.set_defaults(run=_rebuild)
    password = actions.add_parser(
        "password", help="print the console's password (made on first use)"
    )
    password.set_defaults(run=_password)


def console_dir(args: argparse.Namespace, settings: Settings) -> Path:
    directory: Path = args.dir or settings.home / "console"
    make_private_directory(directory, remedy="make the console's password again (delete it)")
    return directory


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(console_dir(args, settings) / STORE_FILE)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        Follower(as_reviewer(settings), store, batch=args.batch).follow(stop)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    path = console_dir(args, settings) / STORE_FILE
    staging = path.with_name(path.name + ".rebuild")
    for stale in (staging, *(staging.with_name(staging.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    store = Store(staging)
    progress = Progress("stored", interval=2.0)
    try:
        stored = Follower(as_reviewer(settings), store).catch_up(progress.advance)
    finally:
        store.close()
    staging.replace(path)  # the old store stays whole until the new one is complete
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    print(f"rebuilt {path}: {stored} record(s) from the topics", file=sys.stderr)
    return 0


def _password(args: argparse.Namespace, settings: Settings) -> int:
    from services.console.auth import Credential  # noqa: PLC0415

    print(Credential(console_dir(args, settings)).password())
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from services.console.server import serve  # noqa: PLC0415

    directory = console_dir(args, settings)
    verify = None
    if args.trusted_keys is not None:
        trusted = read_trusted_keys(args.trusted_keys)  # a bad file fails now, not on the page
        topic = topic_map(settings).decisions
        verify = functools.partial(verify_bus, settings, topic, trusted)
    return serve(as_reviewer(settings), directory / STORE_FILE, directory, args, verify)
