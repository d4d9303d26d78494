"""The peer: the router's job written with Quix Streams, for the benchmark only.

Decode each lookout once, decide per recipient with the same policy engine, encode each view,
produce it to the recipient's feed and one hashed decision record per (event, recipient),
exactly once (Quix's Kafka transactions, same commit interval). It runs in its own
virtualenv (.venv-bench): Quix Streams pins older confluent-kafka and pydantic releases.

    .venv-bench/bin/python -m bench.quix_peer   (settings from the environment, as the router)

Like the router it connects over SASL_SSL with SCRAM-SHA-512 as the router principal, reads
every publisher's lookouts topic, and keeps its consumer group and its transactional id under
the router's prefix (``names.router_group`` for lane "quix"; Quix would otherwise draw a
random UUID as the transactional id, which the router's ACLs refuse, so it is passed in).
Quix also reads each topic's configuration (DescribeConfigs), which the router principal is
not granted on the bus: the benchmark grants it on its own namespace for the peer.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from collections.abc import Callable
from typing import Any

import fastavro
from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig

from intelbus import clients
from intelbus.access.principals import load_principals
from intelbus.chain import GENESIS, ChainHead
from intelbus.models import Lookout
from intelbus.names import router_group, topic_map
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import PolicyEngine
from intelbus.policy.policyset import load_policy_set
from intelbus.position import Position
from intelbus.settings import Settings
from services.router.decisions import avro_dict, decision_record

GROUP_LANE = "quix"


def _schema(name: str) -> Any:
    # The expanded schemas are written for the peer by the benchmark (no registry client here).
    return fastavro.parse_schema(json.loads(os.environ[f"BENCH_SCHEMA_{name.upper()}"]))


def _framed(schema_id: int, schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(b"\x00" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def _connection(settings: Settings) -> ConnectionConfig | str:
    """Quix's connection settings from the same librdkafka keys the router uses."""
    security = clients.security(settings)
    if security["security.protocol"] == "PLAINTEXT":
        return settings.bootstrap_servers
    return ConnectionConfig(
        bootstrap_servers=settings.bootstrap_servers,
        security_protocol=security["security.protocol"],
        sasl_mechanism=security["sasl.mechanism"],
        sasl_username=security["sasl.username"],
        sasl_password=security["sasl.password"],
        ssl_ca_location=security["ssl.ca.location"],
    )


def main() -> None:
    settings = Settings()
    principals = load_principals(settings.policies_dir)
    if not settings.principal_override:
        settings = settings.as_principal(principals.router)
    policy = load_policy_set(settings.policies_dir)
    engine = PolicyEngine(policy, AuthorizationBook())
    recipients = list(policy.recipients)
    topics = topic_map(settings)
    lookout_schema, pointer_schema, decision_schema = (
        _schema(n) for n in ("lookout", "pointer", "decision")
    )
    ids = {
        n: int(os.environ[f"BENCH_SCHEMA_ID_{n.upper()}"])
        for n in ("lookout", "pointer", "decision")
    }

    def router_for(source: str) -> Callable[[bytes], dict[str, Any]]:
        def route(value: bytes) -> dict[str, Any]:
            record = fastavro.schemaless_reader(io.BytesIO(value[5:]), lookout_schema, None)
            assert isinstance(record, dict)
            event = Lookout.model_validate(record)
            now = dt.datetime.now(dt.UTC)
            views: dict[str, bytes | None] = {}
            decisions: list[bytes] = []
            for recipient in recipients:
                verdict = engine.evaluate(event, record, recipient, now)
                if verdict.view is None:
                    views[recipient] = None
                elif verdict.view is record:
                    views[recipient] = value
                elif verdict.view_type is Lookout:
                    views[recipient] = _framed(ids["lookout"], lookout_schema, verdict.view)
                else:
                    views[recipient] = _framed(ids["pointer"], pointer_schema, verdict.view)
                decision = decision_record(
                    event,
                    verdict,
                    head=ChainHead(f"quix/{event.event_id}:{recipient}", 0, GENESIS),
                    policy_version=policy.version,
                    decided_at=now,
                    source=Position(source, 0, 0),
                    feed_topic=None,
                )
                decisions.append(_framed(ids["decision"], decision_schema, avro_dict(decision)))
            return {"views": views, "decisions": decisions}

        return route

    group = router_group(settings, GROUP_LANE)
    app = Application(
        broker_address=_connection(settings),
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=settings.commit_interval_ms / 1000,
        auto_create_topics=False,
        use_changelog_topics=False,
        producer_extra_config={"transactional.id": f"{group}-{settings.router_instance}"},
        loglevel="WARNING",
    )
    feeds = {r: app.topic(topics.feed(r), value_serializer="bytes") for r in recipients}
    decisions_topic = app.topic(topics.decisions, value_serializer="bytes")
    # One dataframe per publisher's inbound topic, as the router's lane reads them all.
    for publisher in principals.publishers:
        inbound = app.topic(
            topics.lookouts(publisher.id), value_deserializer="bytes", key_deserializer="bytes"
        )
        sdf = app.dataframe(inbound).apply(router_for(inbound.name))
        for recipient, feed in feeds.items():
            sdf.apply(lambda v, r=recipient: v["views"][r]).filter(
                lambda v: v is not None
            ).to_topic(feed)
        sdf.apply(lambda v: v["decisions"], expand=True).to_topic(decisions_topic)
    app.run()


if __name__ == "__main__":
    main()
