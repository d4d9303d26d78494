"""Check that a port is free before starting a server on it, and name who holds it if not."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from intelbus.errors import IntelbusError

__all__ = ["ensure_free", "is_free", "listener_of"]

_LISTEN = "0A"


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def listener_of(port: int) -> str | None:
    """Describe the process listening on ``port`` ("pid 123: java ..."), if it can be seen."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in wanted for fd in fds):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                return f"pid {pid}: {cmdline.decode(errors='replace').strip()[:160]}"
        except OSError:
            continue
    return "a process this user cannot inspect"


def ensure_free(port: int, purpose: str) -> None:
    """Raise a clear error naming ``port`` (and its holder) when it is already taken."""
    if is_free(port):
        return
    holder = listener_of(port)
    held_by = f" by {holder}" if holder else ""
    raise IntelbusError(
        f"port {port} ({purpose}) is already in use{held_by}. Stop that process or choose "
        "another port (INTELBUS_KAFKA_PORT, INTELBUS_CONTROLLER_PORT, INTELBUS_INTERNAL_PORT, "
        "INTELBUS_REGISTRY_PORT, INTELBUS_REGISTRY_MANAGEMENT_PORT)."
    )
