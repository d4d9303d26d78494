"""What the command line prints: no librdkafka internal log lines.

librdkafka writes its own log lines ("%6|1795457038.804|BGQUEUE|intelbus-admin#producer-51|
[thrd:background]: Purging 1 unserved events from background queue") straight to stderr
unless the client is given a logger; intelbus.clients routes them to ``intelbus.librdkafka``.
The commands run as child processes, as a user runs them, so their real stderr is checked:
once plainly, and once with librdkafka's debug log switched on for every client, so there
are lines to route even when a plain run happens to make librdkafka say nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.router.progress import wait_until_all_routed
from tests.audit_log import pin_router_key
from tests.conftest import Bus
from tests.router_helpers import running_router

ROOT = Path(__file__).resolve().parent.parent
LIBRDKAFKA_LINE = re.compile(r"^%\d\|", re.MULTILINE)

# ``python -m cli`` with librdkafka's debug log on in every client intelbus.clients makes,
# and what reaches the intelbus.librdkafka logger appended to the file named by DEBUG_LOG.
DEBUG_LOG = "INTELBUS_TEST_LIBRDKAFKA_LOG"
_DEBUG_CLI = f"""
import logging, os, runpy
from intelbus import clients
routed = logging.getLogger("intelbus.librdkafka")
routed.addHandler(logging.FileHandler(os.environ["{DEBUG_LOG}"]))
routed.setLevel(logging.DEBUG)
base = clients._base
clients._base = lambda *args: base(*args) | {{"debug": "generic,broker"}}
runpy.run_module("cli", run_name="__main__", alter_sys=True)
"""
LAUNCHERS = {"plain": ["-m", "cli"], "librdkafka-debug": ["-c", _DEBUG_CLI]}


def _intelbus(
    bus: Bus, launcher: str, routed: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``intelbus ARGS`` in a child process on the test's broker, registry and topics."""
    return subprocess.run(
        [sys.executable, *LAUNCHERS[launcher], *args],
        env=os.environ | bus.settings.as_env() | {DEBUG_LOG: str(routed)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _clean(result: subprocess.CompletedProcess[str]) -> str:
    """The command's stdout, once it has exited 0 with no librdkafka line on stderr."""
    command = " ".join(str(arg) for arg in result.args[3:])
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stderr}"
    assert LIBRDKAFKA_LINE.findall(result.stderr) == [], f"{command} printed:\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_commands_print_no_librdkafka_log_lines(
    cli_env: Bus, launcher: str, tmp_path: Path
) -> None:
    """topics apply, publish and audit verify exit 0 and leave no "%N|..." line on stderr;
    with librdkafka logging at debug level, its lines reach the intelbus.librdkafka logger
    instead."""
    routed = tmp_path / "librdkafka.log"
    _clean(_intelbus(cli_env, launcher, routed, "topics", "apply"))

    example = "examples/lookouts/blaine-noforn.json"
    out = _clean(_intelbus(cli_env, launcher, routed, "publish", "lookout", example))
    assert "published 1 lookout record(s)" in out

    with running_router(cli_env.settings):  # which creates the signing key pair
        wait_until_all_routed(cli_env.settings)
    trusted = pin_router_key(cli_env.settings.keys_dir, tmp_path / "trusted-keys")
    out = _clean(
        _intelbus(cli_env, launcher, routed, "audit", "verify", "--trusted-keys", str(trusted))
    )
    assert out.startswith("OK: 5 decisions in 1 chain(s)"), out
    if launcher == "librdkafka-debug":
        # The debug run had lines to route (a plain run may have none), and they were routed.
        assert len(routed.read_text().splitlines()) > 10
