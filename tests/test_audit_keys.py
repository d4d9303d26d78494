"""The router's decision-signing key: private on disk, never replaced silently."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from intelbus import chain
from intelbus.errors import IntelbusError
from intelbus.secrets import UnsafeSecrets
from producers.publisher import Publisher
from services.router.progress import wait_until_all_routed
from services.router.service import Router
from tests import factories
from tests.conftest import Bus
from tests.router_helpers import running_router

PRIVATE_KEY = "decision-signing.key"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_directory_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """Minted under a umask of 022, the key directory is still 0700 and the key 0600."""
    keys = tmp_path / "keys"
    previous = os.umask(0o022)
    try:
        chain.load_signer(keys)
    finally:
        os.umask(previous)
    assert _mode(keys) == 0o700
    assert _mode(keys / PRIVATE_KEY) == 0o600


def test_key_others_can_read_is_refused(tmp_path: Path) -> None:
    """A key file readable by others is refused, naming the file and its mode."""
    keys = tmp_path / "keys"
    chain.load_signer(keys)
    (keys / PRIVATE_KEY).chmod(0o644)
    with pytest.raises(UnsafeSecrets, match=rf"{PRIVATE_KEY} has mode 0644"):
        chain.load_signer(keys)


def test_key_directory_others_can_read_is_refused(tmp_path: Path) -> None:
    """A key directory others may list or enter is refused, naming it and its mode."""
    keys = tmp_path / "keys"
    chain.load_signer(keys)
    keys.chmod(0o755)
    with pytest.raises(UnsafeSecrets, match=r"keys has mode 0755"):
        chain.load_signer(keys)


def test_vanished_key_stops_the_router_instead_of_minting_one(bus: Bus, tmp_path: Path) -> None:
    """Once the decision log holds seals, a router whose key directory has no key refuses to
    start, telling the operator what to do, and mints nothing."""
    with running_router(bus.settings):
        Publisher(bus.settings).publish(factories.lookout())
        wait_until_all_routed(bus.settings)
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    emptied = bus.settings.model_copy(update={"keys_dir_override": keys})
    with pytest.raises(IntelbusError, match=r"signing key .* is missing") as refused:
        Router(emptied)
    assert "rotate-key" in str(refused.value) or "new-key" in str(refused.value)
    assert not (keys / PRIVATE_KEY).exists()
