"""Which keys the verifier trusts (consumers/audit/trust.py): the keys a reviewer pinned in a
trusted-keys file, and the keys those handed over to by a KeyRotation in the log; a log
built in memory (tests/audit_log.py), chain 0 of lookouts partition 0."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from consumers.audit.trust import read_trusted_keys
from intelbus.chain import public_key_line
from intelbus.errors import IntelbusError
from tests.audit_log import AT, DecisionLog, found, new_signer, signed_seal

ROTATED_AT = AT + dt.timedelta(hours=1)
UNPINNED = ": not pinned, and no rotation from a trusted key names it"


@pytest.fixture
def rotated() -> DecisionLog:
    """Decisions 0-1 sealed by key A; A rotated to B an hour later; 2-3 sealed by B."""
    log = DecisionLog(new_signer())
    log.transaction(0, 2)
    log.rotate(new_signer(), ROTATED_AT)
    log.transaction(0, 2, at=ROTATED_AT + dt.timedelta(minutes=1))
    return log


def _unsealed(log: DecisionLog, *sequences: int) -> list[tuple[object, str, str]]:
    what = "forged or unsealed record: no signed seal vouches for it"
    return [(log.decision(0, n).where, log.chain(0), what) for n in sequences]


def test_rotation_from_a_pinned_key_is_followed(rotated: DecisionLog) -> None:
    """Pinning the first key is enough: its rotation makes the second one trusted."""
    report = rotated.verify()
    assert found(report) == []
    assert report.rotations == 1
    assert report.keys == sorted([rotated.first_signer.key_id, rotated.signer.key_id])


def test_pinning_only_the_new_key_leaves_the_old_seals_untrusted(rotated: DecisionLog) -> None:
    """The rotation and the first key's seals cannot be checked without the first key."""
    old = rotated.first_signer.key_id
    rotation = next(w for w in rotated.records if w.rotation)
    assert found(rotated.verify(pinned=[rotated.signer])) == sorted(
        [
            (rotation.where, "", f"key rotation signed by untrusted key {old}{UNPINNED}"),
            (
                rotated.seal(0, 1).where,
                rotated.chain(0),
                f"seal signed by untrusted key {old}{UNPINNED}",
            ),
            *_unsealed(rotated, 0, 1),
            # the seal of 3 links to a seal no longer valid
            (
                rotated.seal(0, 3).where,
                rotated.chain(0),
                "records missing before the first seal (the chain does not start at its genesis)",
            ),
        ],
        key=lambda f: (f[0] is not None, f[0] or ("", 0, 0), f[1], f[2]),
    )


def test_seal_by_the_retired_key_after_its_rotation_is_refused(rotated: DecisionLog) -> None:
    """The old key signs a seal after it was handed over (a stolen key, or a router still
    running with it): refused, naming when the key was retired and where the rotation is."""
    old, new = rotated.first_signer, rotated.signer
    genuine = rotated.seal(0, 3).sealed
    late = ROTATED_AT + dt.timedelta(minutes=5)
    replaced = rotated.replace(
        rotated.seal(0, 3),
        seal=signed_seal(
            old, genuine.chain, 3, genuine.head_hash, genuine.previous_seal_hash, sealed_at=late
        ),
    )
    rotation = next(w for w in rotated.records if w.rotation)
    topic, partition, offset = rotation.where
    assert found(rotated.verify()) == [
        *_unsealed(rotated, 2, 3),
        (
            replaced.where,
            rotated.chain(0),
            f"seal signed by key {old.key_id} at {late:%Y-%m-%d %H:%M:%S.%f}, after its "
            f"rotation to {new.key_id} at {ROTATED_AT:%Y-%m-%d %H:%M:%S.%f} "
            f"({topic}/{partition}/{offset})",
        ),
    ]


def test_rotation_by_an_unpinned_key_is_refused() -> None:
    """Someone who can write the topic announces a rotation from a key of their own to
    another one: the rotation is refused, and the seals of its new key stay untrusted."""
    log = DecisionLog(new_signer())
    log.transaction(0, 2)
    impostor, successor = new_signer(), new_signer()
    rotation = log.rotate(successor, ROTATED_AT, by=impostor)
    log.transaction(0, 2, at=ROTATED_AT)
    problems = found(log.verify())
    assert (
        rotation.where,
        "",
        f"key rotation signed by untrusted key {impostor.key_id}{UNPINNED}",
    ) in problems
    assert (
        log.seal(0, 3).where,
        log.chain(0),
        f"seal signed by untrusted key {successor.key_id}{UNPINNED}",
    ) in problems


def test_rotation_not_signed_by_the_key_it_names_is_refused() -> None:
    """A rotation naming the pinned key as the one it retires, signed by another key."""
    log = DecisionLog(new_signer())
    log.transaction(0, 2)
    impostor = new_signer()
    rotation = log.rotate(new_signer(), ROTATED_AT, by=impostor)
    record = rotation.rotation
    assert record is not None
    forged = record.model_copy(update={"previous_key_id": log.first_signer.key_id})
    log.records[log.records.index(rotation)] = type(rotation)(rotation.where, rotation=forged)
    assert (
        rotation.where,
        "",
        f"altered or forged key rotation: its signature by key {log.first_signer.key_id} "
        "does not verify",
    ) in found(log.verify())


def test_key_rotated_twice_is_a_fork(rotated: DecisionLog) -> None:
    """The first key, stolen, hands over to a key of the thief's as well: the second
    rotation is refused and its key not trusted."""
    thief = new_signer()
    second = rotated.rotate(thief, ROTATED_AT + dt.timedelta(hours=1), by=rotated.first_signer)
    first = next(w for w in rotated.records if w.rotation)
    topic, partition, offset = first.where
    new = rotated.records[rotated.records.index(first)].rotation
    assert new is not None
    report = rotated.verify()
    assert found(report) == [
        (
            second.where,
            "",
            f"key {rotated.first_signer.key_id} rotated twice: to {new.key_id} at "
            f"{topic}/{partition}/{offset} and to {thief.key_id} here",
        )
    ]
    assert thief.key_id not in report.keys


# -- the trusted-keys file ------------------------------------------------------------------


def test_trusted_keys_file_reads_every_pinned_key(tmp_path: Path) -> None:
    """Lines as `intelbus router public-key` prints them; comments and blank lines skipped."""
    a, b = new_signer(), new_signer()
    path = tmp_path / "trusted-keys"
    path.write_text(
        f"# reviewers' pinned keys\n\n{public_key_line(a.public_key)}\n"
        f"  {public_key_line(b.public_key).rsplit(' ', 1)[0]}  \n"
    )
    assert sorted(read_trusted_keys(path)) == sorted([a.key_id, b.key_id])


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("ed25519\n", ":1: the key is missing"),
        ("# ok\nssh-ed25519 AAAA\n", ":2: key type 'ssh-ed25519' is not ed25519"),
        ("ed25519 not-base64!\n", ":1: not the base64 of a 32-byte Ed25519 public key"),
        ("ed25519 AAAA\n", ":1: not the base64 of a 32-byte Ed25519 public key"),
        ("# nothing\n\n", ": no key in it; a reviewer must pin at least one"),
    ],
)
def test_bad_trusted_keys_file_is_named_by_line(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "trusted-keys"
    path.write_text(content)
    with pytest.raises(IntelbusError) as error:
        read_trusted_keys(path)
    assert str(error.value).startswith(f"{path}{complaint}")


def test_oversized_trusted_keys_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "trusted-keys"
    path.write_bytes(b"#" * (1 << 20) + b"\n")
    with pytest.raises(IntelbusError, match="larger than 1048576 bytes"):
        read_trusted_keys(path)
