"""A reader that goes away (``intelbus ... | head``) is not an error of the command's."""

from __future__ import annotations

import os
import subprocess
import sys


def test_output_to_a_closed_pipe_exits_quietly() -> None:
    """The pipe's reading end is closed before the command writes: every write fails with
    EPIPE. The command exits 0 and prints nothing on stderr (no traceback)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "asyncapi"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")
