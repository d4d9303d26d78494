"""Keep the authorization book current from the approving agencies' authorizations topics.

Each approving agency has a compacted topic only its publisher may write: an authorization's
approver is the agency whose topic it arrived on."""

from __future__ import annotations

import time
from collections.abc import Mapping

import structlog
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from intelbus import clients
from intelbus.models import DisclosureAuthorization
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.reader import ContractReader, Rejected
from intelbus.serde import RegistryUnavailable
from intelbus.settings import Settings
from services.router.checkpoint import Retry

__all__ = ["AuthorizationFeed"]

log = structlog.get_logger()

_RETRY_BACKOFF_S = 1.0


class AuthorizationFeed:
    """Reads every authorization from the beginning (read_committed) and keeps reading, so
    the book always holds the latest record per authorization id.

    The partitions are assigned, not subscribed: every router reads all of them. The group
    ``group`` only records how far this router has applied (committed after each apply), so
    operators and tests can see when a new authorization is in force. Lookout workers of one
    router share the group: its offset is then the furthest any of them has applied.
    """

    def __init__(
        self,
        settings: Settings,
        group: str,
        approvers: Mapping[str, str],
        reader: ContractReader,
    ) -> None:
        """``approvers``: each approving agency's authorizations topic -> that agency."""
        self.book = AuthorizationBook()
        self._approvers = approvers
        self._reader = reader
        self._consumer = clients.consumer(settings, group, "router-authorizations")
        self._partitions = [
            TopicPartition(topic, p, OFFSET_BEGINNING)
            for topic in approvers
            for p in self._consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ]
        self._consumer.assign(self._partitions)

    def refresh(self, timeout: float = 0.0) -> int:
        """Apply whatever has arrived (waiting up to ``timeout`` for the first); return how many.

        A registry outage raises Retry with the unapplied messages rewound: an authorization
        (or its revocation) is applied late, never skipped."""
        applied = 0
        messages = self._consumer.consume(1000, timeout)
        for index, message in enumerate(messages):
            if message.error():
                log.warning("authorizations.read_error", error=str(message.error()))
                continue
            try:
                self._apply(self._approvers[message.topic() or ""], message.key(), message.value())
            except RegistryUnavailable as outage:
                self._rewind(messages[index:])
                raise Retry(f"schema registry unavailable: {outage}") from None
            applied += 1
        if applied:
            self._consumer.commit(asynchronous=True)
        return applied

    def _rewind(self, unapplied: list[Message]) -> None:
        first: dict[tuple[str, int], int] = {}
        for message in unapplied:
            key = (message.topic() or "", message.partition() or 0)
            first.setdefault(key, message.offset() or 0)
        for (topic, partition), offset in first.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))

    def catch_up(self, timeout: float = 60.0) -> None:
        """Block until everything committed before now has been applied."""
        ends = {
            (tp.topic, tp.partition): self._consumer.get_watermark_offsets(tp, timeout=10)[1]
            for tp in self._partitions
        }
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = self._consumer.position(self._partitions)
            if all(
                ends[(tp.topic, tp.partition)] == 0 or tp.offset >= ends[(tp.topic, tp.partition)]
                for tp in positions
            ):
                break
            try:
                self.refresh(timeout=0.2)
            except Retry as retry:  # the registry is out: wait for it, within the deadline
                log.warning("authorizations.retry", reason=str(retry)[:300])
                time.sleep(_RETRY_BACKOFF_S)
        log.info("authorizations.loaded", count=len(self.book))

    def _apply(self, approver: str, key: bytes | None, value: bytes | None) -> None:
        if value is None:  # a tombstone: the authorization is gone
            if key:
                self.book.remove(key.decode(), approved_by=approver)
            return
        try:
            authorization = self._reader.read(value).record
        except Rejected as rejected:  # a bad record must not stop the feed
            log.error("authorizations.unreadable", error=str(rejected)[:300])
            return
        assert isinstance(authorization, DisclosureAuthorization)
        self.book.put(authorization, approved_by=approver)
        log.info(
            "authorizations.applied",
            approved_by=approver,
            authorization_id=authorization.authorization_id,
            recipient=authorization.recipient,
            kind=authorization.kind.value,
            revoked=authorization.revoked,
        )

    def close(self) -> None:
        self._consumer.close()
