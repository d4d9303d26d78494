"""The whole access matrix against the live broker: every principal of the data x every topic
of the bus x describe, read and write, and consumer groups under its own prefix or another's.

The broker must allow exactly what ``intelbus.access.grants.plan`` grants (READ and WRITE
imply DESCRIBE; the operator, a super user, may do everything) and refuse everything else
with an authorization error. A few facts of the sharing model are also asserted on their
own, so a wrong plan cannot pass by being enforced faithfully.

Each probe is a request the broker answers at once, allowed or refused:

- DESCRIBE: a metadata request for the topic (refused: TOPIC_AUTHORIZATION_FAILED on it);
- READ: an offset commit for the topic in the principal's own group (the broker checks READ
  on the topic; refused: TOPIC_AUTHORIZATION_FAILED), then every allowed read really fetches
  the record the operator put on the topic;
- WRITE: one record produced (refused: a TOPIC_AUTHORIZATION_FAILED delivery report);
- GROUP: joining a group under the principal's own prefix gets an assignment, under another
  principal's prefix GROUP_AUTHORIZATION_FAILED.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from intelbus import clients
from intelbus.access.grants import Grant, Operation, Resource, plan
from intelbus.access.principals import Principal, Principals, Role, load_principals
from intelbus.names import principal_prefix
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from tests.conftest import Bus

_TIMEOUT_S = 15.0


class Op(enum.StrEnum):
    DESCRIBE = "describe"
    READ = "read"
    WRITE = "write"


Cell = tuple[str, str, Op]  # principal, topic, operation


# -- what the data allows ------------------------------------------------------------------


def _matches(grant: Grant, name: str) -> bool:
    return name.startswith(grant.name) if grant.prefixed else grant.name == name


def expected(grants: set[Grant], who: Principal, topic: str, op: Op) -> bool:
    """What the plan allows ``who`` to do on ``topic`` (the operator: everything)."""
    if who.role is Role.OPERATOR:
        return True
    granted = {
        g.operation
        for g in grants
        if g.principal == who.name and g.resource is Resource.TOPIC and _matches(g, topic)
    }
    if op is Op.DESCRIBE:
        return bool(granted)  # READ and WRITE imply DESCRIBE
    return Operation(op.value) in granted


def expected_group(grants: set[Grant], who: Principal, group: str) -> bool:
    if who.role is Role.OPERATOR:
        return True
    return any(
        g.principal == who.name and g.resource is Resource.GROUP and _matches(g, group)
        for g in grants
    )


# -- what the broker does ------------------------------------------------------------------


def _refused(error: KafkaError | None, refusal: int, what: str) -> bool:
    """True if refused with ``refusal``, False if allowed; any other error fails the test."""
    if error is None:
        return False
    assert error.code() == refusal, (
        f"{what}: expected success or an authorization error, got {error}"
    )
    return True


@dataclass
class Observer:
    """One consumer and one producer of one principal, probing every topic."""

    settings: Settings
    consumer: Consumer
    producer: Producer

    @classmethod
    def connect(cls, settings: Settings) -> Observer:
        own_group = principal_prefix(settings, settings.principal) + "matrix"
        return cls(
            settings,
            clients.consumer(settings, own_group, "matrix"),
            # Not idempotent: a principal that writes nothing at all (the reviewer) could not
            # get a producer id, and every record would fail for that instead of its topic.
            clients.producer(
                settings, "matrix", **{"enable.idempotence": False, "message.timeout.ms": 15000}
            ),
        )

    def describe(self, topic: str) -> bool:
        error = self.consumer.list_topics(topic, timeout=_TIMEOUT_S).topics[topic].error
        return not _refused(error, KafkaError.TOPIC_AUTHORIZATION_FAILED, f"describe {topic}")

    def read(self, topic: str) -> bool:
        try:
            self.consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        except KafkaException as exception:
            _refused(exception.args[0], KafkaError.TOPIC_AUTHORIZATION_FAILED, f"read {topic}")
            return False
        return True

    def write(self, topics: list[str]) -> dict[str, bool]:
        reports: dict[str, KafkaError | None] = {}

        def report(error: KafkaError | None, message: Message) -> None:
            reports[str(message.topic())] = error

        for topic in topics:
            try:
                self.producer.produce(
                    topic,
                    f"matrix record from {self.settings.principal}".encode(),
                    key=b"matrix",  # the authorizations topics are compacted: keys required
                    partition=0,
                    on_delivery=report,
                )
            except KafkaException as exception:
                # Refused before sending: the client already had the broker's answer.
                reports[topic] = exception.args[0]
        remaining = self.producer.flush(_TIMEOUT_S)
        assert remaining == 0, f"{remaining} record(s) of {self.settings.principal} unanswered"
        return {
            topic: not _refused(
                reports[topic], KafkaError.TOPIC_AUTHORIZATION_FAILED, f"write {topic}"
            )
            for topic in topics
        }

    def fetch_first_records(self, topics: list[str]) -> set[str]:
        """The topics whose first record this principal fetched (partition 0, from the
        beginning) before the deadline."""
        self.consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in topics])
        fetched: set[str] = set()
        deadline = time.monotonic() + _TIMEOUT_S
        while fetched != set(topics) and time.monotonic() < deadline:
            for message in self.consumer.consume(100, 0.2):
                assert message.error() is None, f"fetching {message.topic()}: {message.error()}"
                fetched.add(str(message.topic()))
        self.consumer.unassign()
        return fetched

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def setting(bus: Bus) -> tuple[Bus, Principals, set[Grant], list[str]]:
    """The bus with its ACLs in effect, its principals, the plan and every topic."""
    principals = load_principals(bus.settings.policies_dir)
    grants = plan(bus.settings, bus.topics, principals)
    return bus, principals, grants, [spec.name for spec in bus.topics.specs(principals)]


def observe(bus: Bus, principals: Principals, topics: list[str]) -> dict[Cell, bool]:
    """Every principal x topic x operation, as the broker answers it. The operator goes
    first: its writes put a record on every topic for the others' reads."""
    observed: dict[Cell, bool] = {}
    observers = {
        p.name: Observer.connect(bus.settings.as_principal(p.name)) for p in principals.all
    }
    try:
        assert principals.all[0].role is Role.OPERATOR
        for name, observer in observers.items():
            for topic, allowed in observer.write(topics).items():
                observed[name, topic, Op.WRITE] = allowed
        for name, observer in observers.items():
            for topic in topics:
                observed[name, topic, Op.DESCRIBE] = observer.describe(topic)
                observed[name, topic, Op.READ] = observer.read(topic)
            readable = [t for t in topics if observed[name, t, Op.READ]]
            fetched = observer.fetch_first_records(readable)
            assert fetched == set(readable), (
                f"{name} may read {sorted(set(readable) - fetched)} but fetched nothing there"
            )
    finally:
        for observer in observers.values():
            observer.close()
    return observed


def test_the_broker_allows_exactly_the_plan(
    setting: tuple[Bus, Principals, set[Grant], list[str]],
) -> None:
    """Every principal can describe, read and write exactly the topics the plan grants it
    (the operator all of them) and is refused everything else; key facts of the model hold
    on the broker whatever the plan says."""
    bus, principals, grants, topics = setting
    observed = observe(bus, principals, topics)

    t = bus.topics
    inbound = [
        topic
        for publisher in principals.publishers
        for topic in (
            t.lookouts(publisher.id),
            t.officer_safety(publisher.id),
            t.outcomes(publisher.id),
        )
    ] + [t.authorizations(approver.id) for approver in principals.approvers]
    assert t.authorizations("cbp") in inbound

    def can(principal: str, op: Op, topic: str) -> bool:
        return observed[principal, topic, op]

    # Independent facts (not derived from the plan).
    assert can("subscriber-ice", Op.READ, t.feed("ice"))
    assert not can("subscriber-ice", Op.READ, t.feed("cbp"))
    assert not can("subscriber-ice", Op.DESCRIBE, t.feed("cbp"))
    assert not any(can("subscriber-ice", Op.READ, topic) for topic in inbound)
    assert not can("subscriber-ice", Op.READ, t.decisions)
    assert can("publisher-ice", Op.WRITE, t.lookouts("ice"))
    assert not can("publisher-ice", Op.WRITE, t.lookouts("cbp"))
    assert not any(
        can("publisher-ice", Op.WRITE, t.authorizations(a.id)) for a in principals.approvers
    )
    assert can("publisher-cbp", Op.WRITE, t.authorizations("cbp"))
    assert {topic for topic in topics if can("reviewer", Op.READ, topic)} == {
        t.decisions,
        t.dead_letter,
    }
    assert not any(can("reviewer", Op.WRITE, topic) for topic in topics)
    assert not any(can("router", Op.WRITE, topic) for topic in inbound)
    assert can("router", Op.WRITE, t.feed("ice"))
    assert can("router", Op.READ, t.lookouts("ice"))
    assert all(can(principals.operator, op, topic) for op in Op for topic in topics)

    # The whole matrix against the plan.
    verdict = {True: "allows", False: "refuses"}
    wrong = [
        f"{who.name} {op} {topic}: the broker {verdict[observed[who.name, topic, op]]}"
        for who in principals.all
        for topic in topics
        for op in Op
        if observed[who.name, topic, op] != expected(grants, who, topic, op)
    ]
    assert not wrong, "the broker differs from the plan:\n" + "\n".join(wrong)
    assert len(observed) == len(principals.all) * len(topics) * len(Op)


def _join(settings: Settings, group: str, topic: str) -> Consumer:
    consumer = clients.consumer(settings, group, "matrix-group")
    consumer.subscribe([topic])
    return consumer


def test_groups_only_under_the_principals_own_prefix(
    setting: tuple[Bus, Principals, set[Grant], list[str]],
) -> None:
    """Every principal joins a consumer group under its own prefix (it gets partitions) and
    is refused GROUP_AUTHORIZATION_FAILED under another principal's; the operator may join
    any group."""
    bus, principals, grants, topics = setting
    everyone = principals.all
    attempts: dict[tuple[str, str], Consumer] = {}
    outcome: dict[tuple[str, str], bool] = {}
    try:
        for index, who in enumerate(everyone):
            other = everyone[(index + 1) % len(everyone)]
            # A topic it may describe, so the subscription itself is not what fails.
            topic = next(t for t in topics if expected(grants, who, t, Op.DESCRIBE))
            settings = bus.settings.as_principal(who.name)
            for owner in (who, other):
                # One group per attempt: a member that stops polling once assigned would hold
                # up a second member's rebalance.
                group = principal_prefix(bus.settings, owner.name) + f"matrix.{who.name}"
                attempts[who.name, group] = _join(settings, group, topic)

        def settled() -> bool:
            for key, consumer in attempts.items():
                if key in outcome:
                    continue
                message: Message | None = consumer.poll(0.05)
                if message is not None and message.error() is not None:
                    _refused(message.error(), KafkaError.GROUP_AUTHORIZATION_FAILED, str(key))
                    outcome[key] = False
                elif consumer.assignment():
                    outcome[key] = True
            return len(outcome) == len(attempts)

        wait_for(settled, timeout=45, what="every join to be assigned or refused", interval=0)
    finally:
        for consumer in attempts.values():
            consumer.close()

    by_name = {p.name: p for p in everyone}
    wrong = [
        f"{name} joining {group}: the broker {'allows' if allowed else 'refuses'}"
        for (name, group), allowed in outcome.items()
        if allowed != expected_group(grants, by_name[name], group)
    ]
    assert not wrong, "\n".join(wrong)
    own = principal_prefix(bus.settings, "subscriber-ice") + "matrix.subscriber-ice"
    assert outcome["subscriber-ice", own]
    assert not any(
        allowed
        for (name, group), allowed in outcome.items()
        if name == "subscriber-ice" and group != own
    )
