"""Make the broker's users and ACLs match the data, and find where they differ.

Users are SCRAM-SHA-512 credentials (``alter_user_scram_credentials``); ACLs are Kafka's
(``create_acls``/``describe_acls``/``delete_acls``), all through confluent-kafka's admin
client as the operator. Only this bus's resources are compared: a binding whose pattern
matches one of its topics or one of its principals' group/transaction prefixes. Another
bus's ACLs on the same cluster (another topic prefix) are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from intelbus import clients
from intelbus.access.grants import Grant, Operation, Resource, plan
from intelbus.access.principals import Principals
from intelbus.secrets import SecretStore
from intelbus.settings import Settings
from intelbus.topics import TopicMap
from intelbus.waiting import wait_for

__all__ = [
    "AccessState",
    "all_acls",
    "apply_access",
    "delete_acls",
    "drop_prefixed",
    "inspect_access",
    "revoke",
    "rotate",
]

_TIMEOUT_S = 30
_SCRAM_ITERATIONS = 8192
_SCRAM = ScramMechanism.SCRAM_SHA_512
_RESOURCE = {
    Resource.TOPIC: ResourceType.TOPIC,
    Resource.GROUP: ResourceType.GROUP,
    Resource.TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID,
}
_OPERATION = {
    Operation.READ: AclOperation.READ,
    Operation.WRITE: AclOperation.WRITE,
    Operation.DESCRIBE: AclOperation.DESCRIBE,
}


def _binding(grant: Grant) -> AclBinding:
    return AclBinding(
        _RESOURCE[grant.resource],
        grant.name,
        ResourcePatternType.PREFIXED if grant.prefixed else ResourcePatternType.LITERAL,
        f"User:{grant.principal}",
        "*",
        _OPERATION[grant.operation],
        AclPermissionType.ALLOW,
    )


def _word(value: object) -> str:
    return str(getattr(value, "name", value)).lower()


def _describe(binding: AclBinding) -> str:
    return (
        f"{_word(binding.permission_type)} {binding.principal} {_word(binding.operation)} "
        f"{_word(binding.restype)} {binding.name!r} "
        f"({_word(binding.resource_pattern_type)}, host {binding.host})"
    )


def _pattern_matches(binding: AclBinding, name: str) -> bool:
    if binding.name == "*":
        return True
    if binding.resource_pattern_type == ResourcePatternType.PREFIXED:
        return name.startswith(binding.name)
    return binding.name == name


@dataclass
class AccessState:
    """How the broker differs from the data (empty lists: it matches)."""

    missing_acls: list[AclBinding] = field(default_factory=list)
    extra_acls: list[AclBinding] = field(default_factory=list)
    missing_users: list[str] = field(default_factory=list)

    @property
    def drift(self) -> list[str]:
        return (
            [f"missing ACL: {_describe(b)}" for b in self.missing_acls]
            + [f"extra ACL: {_describe(b)}" for b in self.extra_acls]
            + [f"missing user: {user}" for user in self.missing_users]
        )


def _bus_resources(
    grants: Iterable[Grant], topics: TopicMap, principals: Principals
) -> set[tuple[ResourceType, str]]:
    """The names this bus owns, to tell its bindings from other buses' on the cluster."""
    owned = {(_RESOURCE[g.resource], g.name) for g in grants}
    owned |= {(ResourceType.TOPIC, spec.name) for spec in topics.specs(principals)}
    return owned


def _in_scope(binding: AclBinding, owned: set[tuple[ResourceType, str]]) -> bool:
    return any(binding.restype == kind and _pattern_matches(binding, name) for kind, name in owned)


def inspect_access(
    admin: AdminClient, settings: Settings, topics: TopicMap, principals: Principals
) -> AccessState:
    desired = {_binding(g) for g in plan(settings, topics, principals)}
    owned = _bus_resources(plan(settings, topics, principals), topics, principals)
    live = {b for b in all_acls(admin) if _in_scope(b, owned)}
    users = _users(admin)
    return AccessState(
        missing_acls=sorted(desired - live, key=str),
        extra_acls=sorted(live - desired, key=str),
        missing_users=[p.name for p in principals.all if p.name not in users],
    )


def all_acls(admin: AdminClient) -> list[AclBinding]:
    """Every ACL binding of the cluster."""
    every = AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]  # None matches any name, principal, host
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    found: list[AclBinding] = admin.describe_acls(every, request_timeout=_TIMEOUT_S).result(
        timeout=_TIMEOUT_S
    )
    return found


def _users(admin: AdminClient) -> set[str]:
    future: Any = admin.describe_user_scram_credentials()  # no users named: one future
    found: dict[str, Any] = future.result(timeout=_TIMEOUT_S)
    return {user for user, description in found.items() if description is not None}


def _upsert(admin: AdminClient, user: str, password: str) -> None:
    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(_SCRAM, _SCRAM_ITERATIONS), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=_TIMEOUT_S)


def apply_access(
    admin: AdminClient, settings: Settings, topics: TopicMap, principals: Principals
) -> list[str]:
    """Create missing users (passwords generated into the store) and ACLs, delete extra ACLs.
    Idempotent; returns what it changed."""
    store = SecretStore(settings.secrets_dir)
    state = inspect_access(admin, settings, topics, principals)
    done: list[str] = []
    for user in state.missing_users:
        _upsert(admin, user, store.ensure(user))
        done.append(f"created user {user}")
    if state.missing_acls:
        for future in admin.create_acls(state.missing_acls).values():
            future.result(timeout=_TIMEOUT_S)
        done += [f"granted: {_describe(b)}" for b in state.missing_acls]
    if state.extra_acls:
        delete_acls(admin, state.extra_acls)
        done += [f"removed: {_describe(b)}" for b in state.extra_acls]
    known = {p.name for p in principals.all}
    for stale in store.principals():
        if stale not in known and revoke(admin, settings, stale):
            done.append(f"revoked user {stale} (no longer in principals.yaml)")
    if done:
        # A broker acknowledges ACL changes before it enforces them, and each broker of a
        # cluster applies them from its own copy of the metadata, at its own pace: return
        # once every broker describes (and so authorizes with) exactly the data, so nobody
        # is refused or allowed by a change still in flight.
        brokers = _each_broker(admin, settings)
        wait_for(
            lambda: (
                not any(inspect_access(one, settings, topics, principals).drift for one in brokers)
            ),
            timeout=_TIMEOUT_S,
            what="every broker to enforce the new users and ACLs",
        )
    return done


def _each_broker(admin: AdminClient, settings: Settings) -> list[AdminClient]:
    """An admin client bootstrapped from each broker of the cluster alone (its requests go
    to that broker)."""
    brokers = admin.list_topics(timeout=_TIMEOUT_S).brokers.values()
    return [
        clients.admin(
            settings.model_copy(update={"bootstrap_servers_override": f"{b.host}:{b.port}"})
        )
        for b in brokers
    ]


def drop_prefixed(admin: AdminClient, prefixes: tuple[str, ...]) -> int:
    """Delete every topic and ACL whose name starts with one of ``prefixes`` (a bus that is
    done: a test's, a benchmark's); return how many topics went."""
    bindings = [b for b in all_acls(admin) if b.name.startswith(prefixes)]
    if bindings:
        delete_acls(admin, bindings)
    names = [t for t in admin.list_topics(timeout=_TIMEOUT_S).topics if t.startswith(prefixes)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=_TIMEOUT_S).values():
            future.result(timeout=2 * _TIMEOUT_S)
    return len(names)


def delete_acls(admin: AdminClient, bindings: list[AclBinding]) -> None:
    """Delete exactly these bindings."""
    filters = [
        AclBindingFilter(
            b.restype,
            b.name,
            b.resource_pattern_type,
            b.principal,
            b.host,
            b.operation,
            b.permission_type,
        )
        for b in bindings
    ]
    for future in admin.delete_acls(filters).values():
        future.result(timeout=_TIMEOUT_S)


def rotate(admin: AdminClient, settings: Settings, principal: str) -> None:
    """A new password for ``principal``: the old one stops working at once for new
    connections (and for open ones at their next re-authentication)."""
    _upsert(admin, principal, SecretStore(settings.secrets_dir).create(principal))


def revoke(admin: AdminClient, settings: Settings, principal: str) -> bool:
    """Delete ``principal``'s credential on the broker and in the store. Its ACLs go with the
    next ``apply`` (they are extra once it is out of the data). False if it had none."""
    store = SecretStore(settings.secrets_dir)
    existed = principal in _users(admin)
    if existed:
        deletion = UserScramCredentialDeletion(principal, _SCRAM)
        for future in admin.alter_user_scram_credentials([deletion]).values():
            future.result(timeout=_TIMEOUT_S)
    return store.remove(principal) or existed
