"""Settings from environment variables, with defaults that run the local stack on one machine."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

# In a source checkout (and an editable install) the data sits beside the packages.
_CHECKOUT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of intelbus: each field reads ``INTELBUS_<NAME>`` unless an alias says so."""

    model_config = SettingsConfigDict(
        env_prefix="INTELBUS_", frozen=True, extra="ignore", populate_by_name=True
    )

    home: Path = Field(
        default=Path.home() / ".intelbus",
        description="State of the local stack: data, logs, pid files.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Fetched Maven artifacts (default: <home>/cache); shared by stacks.",
    )
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    internal_port: int = Field(
        default=9094, ge=1, le=65535, description="The broker's own (mutual TLS) listener."
    )
    registry_port: int = Field(default=8081, ge=1, le=65535)
    registry_management_port: int = Field(default=9081, ge=1, le=65535)
    kafka_versions: list[str] = Field(
        default=["4.1.1", "4.1.2", "4.1.0", "4.2.0", "4.0.1"],
        description="Kafka versions to try, preferred first, then neighbours.",
    )
    registry_versions: list[str] = Field(default=["3.3.3", "3.3.2"])
    java_home: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("INTELBUS_JAVA_HOME", "JAVA_HOME"),
    )
    kafka_heap: str = "1g"
    registry_heap: str = "512m"
    start_timeout_s: float = 120.0

    bootstrap_servers_override: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "INTELBUS_BOOTSTRAP_SERVERS"),
    )
    schema_registry_url_override: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SCHEMA_REGISTRY_URL", "INTELBUS_SCHEMA_REGISTRY_URL"),
    )
    principal_override: str | None = Field(
        default=None,
        validation_alias=AliasChoices("INTELBUS_PRINCIPAL"),
        description="Who this process is on the bus (policies/principals.yaml; default: the "
        "operator); its password is read from <home>/secrets.",
    )
    security_protocol: Literal["SASL_SSL", "PLAINTEXT"] = Field(
        default="SASL_SSL",
        description="PLAINTEXT only to reach a cluster that has no security (not the local "
        "stack, which serves SASL_SSL only).",
    )
    ca_file_override: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("INTELBUS_CA_FILE"),
        description="The CA that signed the brokers' certificates (default: <home>/tls/ca.pem).",
    )
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name; lets several buses share one cluster.",
    )
    data_dir: Path = Field(
        default=_CHECKOUT,
        description="Where schemas/, policies/, deploy/ and examples/ are found; each of "
        "them can also be set on its own.",
    )
    topics_file_override: Path | None = Field(
        default=None, validation_alias=AliasChoices("INTELBUS_TOPICS_FILE")
    )
    schemas_dir_override: Path | None = Field(
        default=None, validation_alias=AliasChoices("INTELBUS_SCHEMAS_DIR")
    )
    policies_dir_override: Path | None = Field(
        default=None, validation_alias=AliasChoices("INTELBUS_POLICIES_DIR")
    )

    keys_dir_override: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("INTELBUS_KEYS_DIR"),
        description="The router's decision-signing key and public keys (default: <home>/keys).",
    )
    router_group_tag: str = Field(
        default="",
        description="Names a separate set of router consumer groups over the same topics "
        "(a benchmark routing the same events again).",
    )
    router_instance: str = Field(
        default="0",
        description="Distinct per router process of one group: it names the transactional ids.",
    )
    lookout_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Lookout-lane processes of one router; they share the lane's partitions.",
    )
    commit_interval_ms: int = Field(
        default=100, ge=0, description="How long the lookout lane batches one transaction."
    )
    alert_commit_interval_ms: int = Field(
        default=0, ge=0, description="The officer-safety lane's batching (0: every poll)."
    )
    max_event_bytes: int = Field(
        default=1_048_576, ge=64, description="Larger inbound events go to the dead letter."
    )
    stats_interval_s: float = 10.0

    @property
    def topics_file(self) -> Path:
        return self.topics_file_override or self.data_dir / "deploy" / "topics.yaml"

    @property
    def schemas_dir(self) -> Path:
        return self.schemas_dir_override or self.data_dir / "schemas" / "avro"

    @property
    def policies_dir(self) -> Path:
        return self.policies_dir_override or self.data_dir / "policies"

    @property
    def examples_dir(self) -> Path:
        return self.data_dir / "examples"

    @property
    def keys_dir(self) -> Path:
        return self.keys_dir_override or self.home / "keys"

    @property
    def principal(self) -> str:
        if self.principal_override:
            return self.principal_override
        from intelbus.access.principals import load_principals  # noqa: PLC0415 - a cycle

        return load_principals(self.policies_dir).operator

    def as_principal(self, principal: str) -> Settings:
        """The same bus, seen as ``principal``."""
        return self.model_copy(update={"principal_override": principal})

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"

    @property
    def ca_file(self) -> Path:
        return self.ca_file_override or self.tls_dir / "ca.pem"

    @property
    def artifact_cache(self) -> Path:
        return self.cache_dir or self.home / "cache"

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap_servers_override or f"127.0.0.1:{self.kafka_port}"

    @property
    def schema_registry_url(self) -> str:
        return (
            self.schema_registry_url_override
            or f"http://127.0.0.1:{self.registry_port}/apis/ccompat/v7"
        )

    def as_env(self) -> dict[str, str]:
        """The environment variables under which another intelbus process (a router, the
        CLI) works on the same bus: broker, registry, topics, group, keys and policies (and
        the identity, when one was chosen; else each command takes its role's own)."""
        identity = (
            {"INTELBUS_PRINCIPAL": self.principal_override} if self.principal_override else {}
        )
        return identity | {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "INTELBUS_HOME": str(self.home),
            "INTELBUS_SECURITY_PROTOCOL": self.security_protocol,
            "INTELBUS_CA_FILE": str(self.ca_file),
            "SCHEMA_REGISTRY_URL": self.schema_registry_url,
            "INTELBUS_TOPIC_PREFIX": self.topic_prefix,
            "INTELBUS_ROUTER_GROUP_TAG": self.router_group_tag,
            "INTELBUS_KEYS_DIR": str(self.keys_dir),
            "INTELBUS_DATA_DIR": str(self.data_dir),
            "INTELBUS_TOPICS_FILE": str(self.topics_file),
            "INTELBUS_SCHEMAS_DIR": str(self.schemas_dir),
            "INTELBUS_POLICIES_DIR": str(self.policies_dir),
            "INTELBUS_COMMIT_INTERVAL_MS": str(self.commit_interval_ms),
        }
