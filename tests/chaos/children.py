"""The processes a fault suite runs as a deployment would: started, killed with SIGKILL,
restarted; one that exits on its own is restarted too, as a service manager would, and
counted (an unplanned restart is a finding, not a failure)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["Child", "Watchdog", "env_for"]

_RESTART_DELAY_S = 1.0


class Child:
    """One process: its output appended to ``log`` (stdout to ``stdout`` if given)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        log: Path,
        stdout: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.log = log
        self.stdout = stdout
        self.process: subprocess.Popen[bytes] | None = None
        self.unplanned_restarts = 0
        self._lock = threading.Lock()
        self._expected_exit = False

    def start(self) -> int:
        with self._lock:
            with self.log.open("ab") as log, (self.stdout or self.log).open("ab") as out:
                self.process = subprocess.Popen(
                    self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=log
                )
            self._expected_exit = False
            return self.process.pid

    def kill(self) -> int:
        """SIGKILL (a crash: no clean shutdown), then start it again; returns the pid killed."""
        with self._lock:
            assert self.process is not None
            pid = self.process.pid
            self._expected_exit = True
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.start()
        return pid

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait: the exit status of a clean stop."""
        with self._lock:
            assert self.process is not None
            self._expected_exit = True
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(timeout)

    def revive(self) -> bool:
        """Start it again if it exited on its own; True if it had to."""
        with self._lock:
            exited = (
                self.process is not None
                and self.process.poll() is not None
                and not self._expected_exit
            )
        if exited:
            self.unplanned_restarts += 1
            self.start()
        return exited


class Watchdog:
    """Revives the children that exit on their own until stopped."""

    def __init__(self, children: Sequence[Child]) -> None:
        self.children = list(children)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def _run(self) -> None:
        # A process gives no signal of its exit to a thread that did not start it: poll.
        while not self._stop.wait(_RESTART_DELAY_S):
            for child in self.children:
                child.revive()

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def env_for(settings_env: dict[str, str]) -> dict[str, str]:
    """The environment of a child working on the fault suite's bus: each command connects
    as its own role's principal (no INTELBUS_PRINCIPAL inherited)."""
    base = {k: v for k, v in os.environ.items() if k != "INTELBUS_PRINCIPAL"}
    return base | settings_env
