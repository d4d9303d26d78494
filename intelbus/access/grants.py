"""What each principal may do on one bus, as Kafka ACL grants derived from the data.

Deny by default (``allow.everyone.if.no.acl.found=false``): a principal can do exactly what a
grant below allows. READ and WRITE on a topic imply DESCRIBE (Kafka's implication rules).

- a subscriber reads its own feed, alerts and parked topics and writes its parked topic;
- a publisher writes its own agency's inbound topics (and, if it approves disclosures, its
  authorizations topic);
- the router reads the inbound and authorizations topics, writes the feeds, alerts, the
  decision log and the dead letter, and reads and writes its lifecycle changelog;
- the deconflictor reads every publisher's lookouts and operations and its index changelog,
  and writes that changelog and the deconfliction notices (which the router reads);
- the reviewer reads the decision log and the dead letter, and may describe the router's
  consumer groups and the inbound topics they consume: enough to fetch the chain heads the
  router commits with its offsets (``audit verify`` checks the log still holds them), not
  to read an event or join a group;
- every principal's consumer groups and transactional ids live under its own prefix
  (``names.principal_prefix``): nobody can join another's group or fence its transactions.

The operator is a super user of the broker (server.properties) and needs no grant.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from intelbus.access.principals import Principal, Principals, Role
from intelbus.names import principal_prefix
from intelbus.settings import Settings
from intelbus.topics import TopicMap

__all__ = ["Grant", "Operation", "Resource", "plan"]


class Resource(enum.StrEnum):
    TOPIC = "topic"
    GROUP = "group"
    TRANSACTIONAL_ID = "transactional-id"


class Operation(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    DESCRIBE = "describe"


@dataclass(frozen=True, order=True)
class Grant:
    principal: str
    resource: Resource
    name: str
    operation: Operation
    prefixed: bool = False  # the name is a prefix (Kafka's PREFIXED pattern), else literal


def _topic(principal: str, operation: Operation, names: list[str]) -> list[Grant]:
    return [Grant(principal, Resource.TOPIC, name, operation) for name in names]


def _own_groups_and_transactions(settings: Settings, principal: str) -> list[Grant]:
    prefix = principal_prefix(settings, principal)
    return [
        Grant(principal, Resource.GROUP, prefix, Operation.READ, prefixed=True),
        Grant(principal, Resource.TRANSACTIONAL_ID, prefix, Operation.WRITE, prefixed=True),
    ]


def _grants_of(
    settings: Settings, topics: TopicMap, principals: Principals, who: Principal
) -> list[Grant]:
    name = who.name
    match who.role:
        case Role.OPERATOR:
            return []  # a super user
        case Role.SUBSCRIBER:
            assert who.acts_for is not None
            recipient = who.acts_for
            own = [topics.feed(recipient), topics.alerts(recipient), topics.parked(recipient)]
            return _topic(name, Operation.READ, own) + _topic(
                name, Operation.WRITE, [topics.parked(recipient)]
            )
        case Role.PUBLISHER:
            assert who.acts_for is not None
            publisher = principals.publisher(who.acts_for)
            inbound = [
                topics.lookouts(publisher.id),
                topics.officer_safety(publisher.id),
                topics.outcomes(publisher.id),
                topics.hits(publisher.id),
            ]
            inbound.append(topics.operations(publisher.id))
            if publisher.approves_disclosures:
                inbound.append(topics.authorizations(publisher.id))
            return _topic(name, Operation.WRITE, inbound)
        case Role.ROUTER:
            reads = (
                _routed(topics, principals)
                + [topics.authorizations(approver.id) for approver in principals.approvers]
                + [topics.lifecycle, topics.deconflict_notices]
            )
            writes = [
                topic
                for recipient in principals.recipients
                for topic in (topics.feed(recipient), topics.alerts(recipient))
            ] + [topics.decisions, topics.dead_letter, topics.lifecycle]
            return _topic(name, Operation.READ, reads) + _topic(name, Operation.WRITE, writes)
        case Role.DECONFLICTOR:
            watched = [
                topic
                for publisher in principals.publishers
                for topic in (topics.lookouts(publisher.id), topics.operations(publisher.id))
            ]
            own = [topics.deconflict_index]
            return _topic(name, Operation.READ, watched + own) + _topic(
                name, Operation.WRITE, [*own, topics.deconflict_notices]
            )
        case Role.REVIEWER:
            # Fetching a group's committed offsets takes DESCRIBE on the group and on each
            # topic (the broker silently leaves out topics it may not describe).
            router_groups = principal_prefix(settings, principals.router)
            return (
                _topic(name, Operation.READ, [topics.decisions, topics.dead_letter])
                + _topic(
                    name,
                    Operation.DESCRIBE,
                    [*_routed(topics, principals), topics.deconflict_notices],
                )
                + [Grant(name, Resource.GROUP, router_groups, Operation.DESCRIBE, prefixed=True)]
            )
    raise AssertionError(who.role)


def _routed(topics: TopicMap, principals: Principals) -> list[str]:
    """The inbound topics the router's lanes consume."""
    return [
        topic
        for publisher in principals.publishers
        for topic in (
            topics.lookouts(publisher.id),
            topics.outcomes(publisher.id),
            topics.hits(publisher.id),
            topics.officer_safety(publisher.id),
        )
    ]


def plan(settings: Settings, topics: TopicMap, principals: Principals) -> set[Grant]:
    """Every grant of the bus: exactly what the data allows, nothing else."""
    grants: set[Grant] = set()
    for who in principals.all:
        grants.update(_grants_of(settings, topics, principals, who))
        if who.role is not Role.OPERATOR:
            grants.update(_own_groups_and_transactions(settings, who.name))
    return grants
