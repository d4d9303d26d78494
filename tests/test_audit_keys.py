"""The router's decision-signing key (intelbus/keydir.py, services/router/keys.py): private on
disk, minted only on the bus's first start or when asked, never replaced silently, and
handed over to a new key only by a rotation recorded in the log, which verify follows."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cli import main
from consumers.audit.log import read_decision_log
from consumers.audit.trust import read_trusted_keys
from intelbus import keydir
from intelbus.errors import IntelbusError
from intelbus.secrets import UnsafeSecrets
from intelbus.waiting import wait_for
from producers.publisher import Publisher
from services.router.progress import lane_is_running, wait_until_all_routed
from services.router.service import Router
from tests import factories
from tests.audit_log import pin_router_key
from tests.conftest import Bus
from tests.router_helpers import running_router


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _route_one(bus: Bus) -> None:
    with running_router(bus.settings):
        Publisher(bus.settings).publish(factories.lookout())
        wait_until_all_routed(bus.settings)


@pytest.fixture
def own_keys(cli_env: Bus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bus:
    """The test's bus with a key directory of its own (not yet made), for the in-process
    router and CLI alike: the run's shared key must not be rotated."""
    keys = tmp_path / "keys"
    monkeypatch.setenv("INTELBUS_KEYS_DIR", str(keys))
    return Bus(cli_env.settings.model_copy(update={"keys_dir_override": keys}), cli_env.topics)


# -- on disk --------------------------------------------------------------------------------


def test_key_directory_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """Minted under a umask of 022, the key directory is still 0700 and the key 0600."""
    keys = tmp_path / "keys"
    previous = os.umask(0o022)
    try:
        keydir.mint_signer(keys)
    finally:
        os.umask(previous)
    assert _mode(keys) == 0o700
    assert _mode(keys / keydir.PRIVATE_KEY_FILE) == 0o600


def test_key_others_can_read_is_refused(tmp_path: Path) -> None:
    """A key file readable by others is refused, naming the file and its mode, and saying
    that the key is to be rotated."""
    keys = tmp_path / "keys"
    keydir.mint_signer(keys)
    (keys / keydir.PRIVATE_KEY_FILE).chmod(0o644)
    with pytest.raises(UnsafeSecrets, match=rf"{keydir.PRIVATE_KEY_FILE} has mode 0644") as error:
        keydir.load_signer(keys)
    assert "intelbus router rotate-key" in str(error.value)


def test_key_directory_others_can_read_is_refused(tmp_path: Path) -> None:
    """A key directory others may list or enter is refused, naming it and its mode."""
    keys = tmp_path / "keys"
    keydir.mint_signer(keys)
    keys.chmod(0o755)
    with pytest.raises(UnsafeSecrets, match=r"keys has mode 0755"):
        keydir.load_signer(keys)


def test_a_key_is_never_minted_over_another(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = keydir.mint_signer(keys)
    with pytest.raises(keydir.KeyExists):
        keydir.mint_signer(keys)
    assert keydir.load_signer(keys).key_id == first.key_id


def test_public_key_prints_the_line_a_reviewer_pins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    signer = keydir.mint_signer(keys)
    monkeypatch.setenv("INTELBUS_KEYS_DIR", str(keys))
    assert main(["router", "public-key"]) == 0
    pinned = tmp_path / "trusted-keys"
    pinned.write_text(capsys.readouterr().out)
    assert list(read_trusted_keys(pinned)) == [signer.key_id]


def test_new_key_mints_only_where_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`router new-key` mints a key in an empty directory and prints its line for the
    reviewers; a second time it refuses and points to rotate-key."""
    keys = tmp_path / "keys"
    monkeypatch.setenv("INTELBUS_KEYS_DIR", str(keys))
    assert main(["router", "new-key"]) == 0
    out = capsys.readouterr().out
    signer = keydir.load_signer(keys)
    assert f"minted key {signer.key_id}" in out
    assert "ed25519 " in out
    assert main(["router", "new-key"]) == 1
    assert "`intelbus router rotate-key`" in capsys.readouterr().err
    assert keydir.load_signer(keys).key_id == signer.key_id


# -- the router's start ---------------------------------------------------------------------


def test_first_start_mints_a_private_key(own_keys: Bus) -> None:
    """On a bus whose decision log never held a record, the router mints its key itself, in
    a directory only its owner may use."""
    keys = own_keys.settings.keys_dir
    router = Router(own_keys.settings)
    assert router.signer.key_id == keydir.load_signer(keys).key_id
    assert (_mode(keys), _mode(keys / keydir.PRIVATE_KEY_FILE)) == (0o700, 0o600)


def test_vanished_key_stops_the_router_instead_of_minting_one(bus: Bus, tmp_path: Path) -> None:
    """Once the decision log holds seals, a router whose key directory has no key refuses to
    start, telling the operator what to do, and mints nothing."""
    _route_one(bus)
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    emptied = bus.settings.model_copy(update={"keys_dir_override": keys})
    with pytest.raises(IntelbusError, match=r"signing key .* is missing") as refused:
        Router(emptied)
    assert "intelbus router new-key" in str(refused.value)
    assert not (keys / keydir.PRIVATE_KEY_FILE).exists()


def test_interrupted_rotation_blocks_the_router_until_it_is_finished(
    own_keys: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rotation that staged its next key and stopped: the router will not start; running
    rotate-key again finishes it with that staged key."""
    keys = own_keys.settings.keys_dir
    keydir.mint_signer(keys)
    staged = keydir.next_signer(keys)
    with pytest.raises(IntelbusError, match="a key rotation was interrupted"):
        Router(own_keys.settings)
    assert main(["router", "rotate-key"]) == 0, capsys.readouterr().err
    assert Router(own_keys.settings).signer.key_id == staged.key_id


# -- rotation -------------------------------------------------------------------------------


def test_rotation_is_recorded_in_the_log_and_followed_by_verify(
    own_keys: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Routed with a first key, rotated, routed with the second: the log holds a KeyRotation
    from the first to the second, and a reviewer who pinned only the first key verifies
    the whole log, both keys trusted."""
    settings, keys = own_keys.settings, own_keys.settings.keys_dir
    _route_one(own_keys)
    old = keydir.load_signer(keys).key_id
    trusted = pin_router_key(keys, tmp_path / "trusted-keys")
    assert main(["router", "rotate-key"]) == 0
    out = capsys.readouterr().out
    new = keydir.load_signer(keys).key_id
    assert new != old
    assert f"key {old} retired; key {new} signs from now on" in out
    assert not keydir.rotation_pending(keys)
    _route_one(own_keys)

    rotations = [
        (e.rotation.previous_key_id, e.rotation.key_id)
        for e in read_decision_log(settings, own_keys.topics.decisions)
        if e.rotation
    ]
    assert rotations == [(old, new)]
    assert main(["audit", "verify", "--trusted-keys", str(trusted)]) == 0
    out = capsys.readouterr().out
    assert f"signed by trusted key(s) {', '.join(sorted([old, new]))}" in out
    assert "(1 key rotation(s) followed)" in out


def test_rotation_is_refused_while_the_router_runs(
    own_keys: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """A running router would go on sealing with the retired key: rotate-key refuses and
    the key stays as it was."""
    settings = own_keys.settings
    with running_router(settings):
        wait_for(lambda: lane_is_running(settings, "lookouts"), timeout=60, what="the router")
        before = keydir.load_signer(settings.keys_dir).key_id
        assert main(["router", "rotate-key"]) == 1
    assert "the router is running" in capsys.readouterr().err
    assert keydir.load_signer(settings.keys_dir).key_id == before
    assert not keydir.rotation_pending(settings.keys_dir)
