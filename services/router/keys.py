"""The router's signing key over its life: minted on the bus's first start only, refused
when it vanished later, handed over to a new key by a rotation recorded in the log.

- First start: the key directory has no key and the decisions topic has never held a record
  (its end offsets are all 0; Kafka offsets never go back, even after records are deleted).
  Then, and only then, the router mints its key by itself.
- A vanished key: no key, but the log has records. Minting one would make every later seal
  untrusted at best, or a silent re-keying at worst: the router refuses to start and says
  what to do (restore it; or ``intelbus router new-key`` and have the reviewers pin it).
- Rotation (``intelbus router rotate-key``, router stopped): the next key is staged in the
  key directory, a ``KeyRotation`` naming it and signed by the current key is written to the
  decisions topic, then the next key replaces the current one. Run again after a crash, it
  finishes with the staged key; the router refuses to start while one is staged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from confluent_kafka import KafkaError, Message

from intelbus import clients, keydir, serde
from intelbus.chain import (
    ROTATION_KEY,
    ROTATION_SIGNATURE_VERSION,
    SealSigner,
    public_key_line,
    raw_public_key,
    rotation_message,
)
from intelbus.errors import IntelbusError
from intelbus.models import KeyRotation
from intelbus.names import router_group, topic_map
from intelbus.position import Position
from intelbus.settings import Settings
from intelbus.topic_reader import committed_ends
from intelbus.waiting import Timeout, wait_for

__all__ = ["Rotation", "mint_key", "rotate_key", "router_signer"]

log = structlog.get_logger()

_TIMEOUT_S = 30
# A stopped router's lanes leave their groups when their session expires (lane.py: 15 s).
_STOPPED_WITHIN_S = 25


def router_signer(settings: Settings) -> SealSigner:
    """The key the router signs with; minted here only on the bus's first start."""
    keys_dir = settings.keys_dir
    if keydir.rotation_pending(keys_dir):
        raise IntelbusError(
            f"a key rotation was interrupted ({keys_dir} holds the next key): run "
            "`intelbus router rotate-key` to finish it, then start the router"
        )
    try:
        return keydir.load_signer(keys_dir)
    except keydir.MissingKey:
        pass
    decisions = topic_map(settings).decisions
    if _has_records(settings, decisions):
        raise IntelbusError(
            f"the decision-signing key {keys_dir / keydir.PRIVATE_KEY_FILE} is missing, but "
            f"{decisions} already holds the log it signed; a new key now would re-key the log "
            "unnoticed. Restore the key from its backup (mode 0600, in a 0700 directory). If "
            "it is lost, `intelbus router new-key` mints another one: give its line to the "
            "reviewers to pin, since no rotation record can vouch for it"
        )
    try:
        signer = keydir.mint_signer(keys_dir)
    except keydir.KeyExists:  # another router process of this bus minted it first
        return keydir.load_signer(keys_dir)
    log.warning(
        "router.signing_key_minted",
        key_id=signer.key_id,
        trusted_key=public_key_line(signer.public_key),
        keys_dir=str(keys_dir),
    )
    return signer


def mint_key(settings: Settings) -> SealSigner:
    """A new key where there is none (``intelbus router new-key``): the first one before the
    router ever ran, or one to replace a lost key, which reviewers must then pin by hand."""
    try:
        return keydir.mint_signer(settings.keys_dir)
    except keydir.KeyExists:
        raise IntelbusError(
            f"{settings.keys_dir / keydir.PRIVATE_KEY_FILE} exists: to replace it, "
            "`intelbus router rotate-key`"
        ) from None


@dataclass(frozen=True)
class Rotation:
    retired: str  # key id
    signer: SealSigner  # the new key
    record: Position  # where the KeyRotation sits


def rotate_key(settings: Settings, lanes: tuple[str, ...]) -> Rotation:
    """Hand the router's signing over to a new key, recorded in the log (router stopped)."""
    keys_dir = settings.keys_dir
    current = keydir.load_signer(keys_dir)
    _refuse_if_running(settings, lanes)
    new = keydir.next_signer(keys_dir)
    rotation = KeyRotation(
        previous_key_id=current.key_id,
        key_id=new.key_id,
        public_key=raw_public_key(new.public_key),
        rotated_at=dt.datetime.now(dt.UTC),
        signature_version=ROTATION_SIGNATURE_VERSION,
        signature=b"",
    )
    signed = rotation.model_copy(
        update={"signature": current.sign(rotation_message(rotation.to_avro()))}
    )
    position = _append(settings, signed)
    keydir.promote_next(keys_dir)  # only once the log holds the rotation
    log.info("router.key_rotated", retired=current.key_id, key_id=new.key_id, at=str(position))
    return Rotation(current.key_id, new, position)


def _has_records(settings: Settings, topic: str) -> bool:
    return any(end > 0 for end in committed_ends(settings, [topic]).values())


def _refuse_if_running(settings: Settings, lanes: tuple[str, ...]) -> None:
    """A running router would go on sealing with the retired key. A stopped one's lanes
    stay members of their groups until their session expires (static membership): wait
    that long for the groups to empty before refusing."""
    groups = [router_group(settings, lane) for lane in lanes]
    admin = clients.admin(settings)

    def members() -> dict[str, int]:
        futures = admin.describe_consumer_groups(groups, request_timeout=10)
        found = {group: len(future.result(_TIMEOUT_S).members) for group, future in futures.items()}
        return {group: count for group, count in found.items() if count}

    try:
        wait_for(
            lambda: not members(),
            timeout=_STOPPED_WITHIN_S,
            what="the router to stop",
            interval=0.5,
        )
    except Timeout:
        running = ", ".join(f"{count} in group {group}" for group, count in members().items())
        raise IntelbusError(
            f"the router is running (members: {running}): stop it first, or it would go on "
            "sealing with the key being retired"
        ) from None


def _append(settings: Settings, rotation: KeyRotation) -> Position:
    topic = topic_map(settings).decisions
    writer = serde.RecordSerializer(
        serde.registry_client(settings), KeyRotation, settings.schemas_dir
    )
    delivered: list[Position] = []
    failures: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(error.str())
        else:
            delivered.append(Position.of(message))

    producer = clients.producer(settings, "intelbus-rotate-key")
    producer.produce(
        topic, writer.serialize(rotation, topic), ROTATION_KEY, on_delivery=on_delivery
    )
    producer.flush(_TIMEOUT_S)
    if failures or not delivered:
        raise IntelbusError(
            f"the key rotation could not be written to {topic} "
            f"({'; '.join(failures) or 'no delivery report'}); the current key still signs "
            "and the next one stays staged: run `intelbus router rotate-key` again"
        )
    return delivered[0]
