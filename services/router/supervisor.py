"""One process per lane (and per lookout worker): start each as a child, forward
SIGTERM/SIGINT, and stop all (exit 1) if any dies, so that an outside supervisor restarts the
router as a whole.

Children ask the kernel to SIGKILL them when the supervisor dies (PR_SET_PDEATHSIG): a
killed router leaves no lane running behind it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from types import FrameType

import structlog

__all__ = ["die_with_parent", "supervise"]

log = structlog.get_logger()

_PR_SET_PDEATHSIG = 1
SUPERVISOR_PID = "INTELBUS_ROUTER_SUPERVISOR_PID"


def die_with_parent() -> None:
    """In a lane process: be killed when the supervisor is (Linux)."""
    parent = os.environ.get(SUPERVISOR_PID)
    if parent is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(parent):  # the supervisor died before prctl took effect
        os._exit(1)


def supervise(commands: Mapping[str, Sequence[str]]) -> int:
    """Run every named command until a signal or one command's exit."""
    env = os.environ | {SUPERVISOR_PID: str(os.getpid())}
    children = {
        name: subprocess.Popen(list(argv), env=env, stdin=subprocess.DEVNULL)
        for name, argv in commands.items()
    }
    stopping = False

    def on_signal(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("router.stopping", signal=signal.Signals(signum).name)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    failed = False
    while any(child.poll() is None for child in children.values()):
        exited = {lane: c.returncode for lane, c in children.items() if c.returncode is not None}
        if exited and not stopping:  # a lane ended on its own: stop the others too
            log.error("router.lane_exited", exited=exited)
            failed = True
            on_signal(signal.SIGTERM, None)
        time.sleep(0.2)  # children report only by exiting; there is nothing to await
    failed = failed or any(child.returncode != 0 for child in children.values())
    log.info("router.stopped", failed=failed)
    return 1 if failed else 0
