"""The console as a running thing: the store's follower, the chain checker and the web
server (uvicorn), each on a thread of its own; ``serve`` runs them until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import structlog
import uvicorn

from consumers.audit.verify import Report
from consumers.console_store.follow import Follower
from consumers.console_store.store import Store
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from services.console.app import ConsoleState, create_app
from services.console.auth import Credential
from services.console.chains import ChainChecker

__all__ = ["ConsoleServer", "serve"]

log = structlog.get_logger("console")


class ConsoleServer:
    def __init__(
        self,
        settings: Settings,
        store_path: Path,
        directory: Path,
        verify: Callable[[], Report] | None,
        *,
        host: str = "127.0.0.1",
        port: int = 8600,
        check_interval_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self.store = Store(store_path)  # creates the tables before the first page is asked
        self.checker = ChainChecker(verify, check_interval_s)
        self.state = ConsoleState(
            store_path, settings.principal, Credential(directory).verifier(), self.checker
        )
        self.app = create_app(self.state)
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,  # live streams stay open: do not wait for them
        )
        self.server = uvicorn.Server(config)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._follow, name="console-store", daemon=True),
            threading.Thread(target=self.server.run, name="console-web", daemon=True),
        ]

    def _follow(self) -> None:
        try:
            Follower(self.settings, self.store).follow(self._stop)
        except Exception as error:  # the pages still serve what is stored, and say so
            self.state.store_problem = str(error) or repr(error)
            log.error("console_store_stopped", error=self.state.store_problem)

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ConsoleServer:
        for thread in self._threads:
            thread.start()
        self.checker.start()
        wait_for(lambda: self.server.started, timeout=30, what="the console's web server")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self._stop.set()
        self.checker.stop()
        for thread in self._threads:
            thread.join(30)
        self.store.close()


def serve(
    settings: Settings,
    store_path: Path,
    directory: Path,
    args: argparse.Namespace,
    verify: Callable[[], Report] | None,
) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with ConsoleServer(
        settings, store_path, directory, verify, host=args.host, port=args.port
    ) as console:
        print(
            f"intelbus console at {console.url} (log in as {settings.principal}; the password: "
            f"`intelbus console password`)",
            file=sys.stderr,
        )
        if verify is None:
            print("  chains not checked: pass --trusted-keys FILE", file=sys.stderr)
        if not ipaddress.ip_address(args.host).is_loopback:
            print(
                f"  WARNING: listening on {args.host} in plain HTTP: put it behind a TLS proxy "
                "or keep it on 127.0.0.1",
                file=sys.stderr,
            )
        stop.wait()
    return 0
