"""A background server process tracked by a pid file: start, find, stop cleanly.

A pid file alone can outlive its process and the pid be reused, so a process counts as ours
only while its command line still carries our marker (``-Dintelbus.service=<name>@<home>``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from intelbus.waiting import Timeout, wait_for

__all__ = ["ManagedProcess"]

_EXEC_LOOKS, _EXEC_LOOK_S = 50, 0.02


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    run_dir: Path
    log_dir: Path
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of our running process, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if self._is_ours(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def _is_ours(self, pid: int) -> bool:
        # A process in the middle of an exec (the JVM's launcher may exec itself again) shows
        # an empty command line for a moment: look again rather than take it for gone.
        for _ in range(_EXEC_LOOKS):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            # A zombie has exited; only its parent's wait() is missing.
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return False
            if cmdline:
                return self.marker.encode() in cmdline
            time.sleep(_EXEC_LOOK_S)  # an exec gives nothing to wait on
        return False

    def tail(self, lines: int) -> str:
        """The last ``lines`` lines of the log."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64_000))
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self, argv: Sequence[str], cwd: Path) -> int:
        """Start ``argv`` detached from our session, logging to :attr:`log_file`."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def kill(self) -> int | None:
        """SIGKILL, as a crash would (no clean shutdown), and wait until it is gone; the pid
        killed, or None if it was not running."""
        pid = self.pid()
        if pid is None:
            return None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not self._is_ours(pid), timeout=10, what=f"{self.name} to die")
        self.pid_file.unlink(missing_ok=True)
        return pid

    def stop(self, grace: float = 30.0) -> bool:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. True if a process was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(lambda: not self._is_ours(pid), timeout=grace, what=f"{self.name} to stop")
        except Timeout:
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not self._is_ours(pid), timeout=10, what=f"{self.name} to die")
        self.pid_file.unlink(missing_ok=True)
        return True
