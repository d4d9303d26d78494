"""The peer: the router's job written with Quix Streams, for the benchmark only.

Decode each lookout once, decide per recipient with the same policy engine, encode each view,
produce it to the recipient's feed and one hashed decision record per (event, recipient),
exactly once (Quix's Kafka transactions, same commit interval). It runs in its own
virtualenv (.venv-bench): Quix Streams pins older confluent-kafka and pydantic releases.

    .venv-bench/bin/python -m bench.quix_peer   (settings from the environment, as the router)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path
from typing import Any

import fastavro
from quixstreams import Application

from intelbus.chain import GENESIS, ChainHead
from intelbus.models import Lookout
from intelbus.policy.authorizations import AuthorizationBook
from intelbus.policy.engine import PolicyEngine
from intelbus.policy.policyset import load_policy_set
from intelbus.position import Position
from intelbus.topics import load_topic_map
from services.router.decisions import avro_dict, decision_record

ROOT = Path(__file__).resolve().parent.parent


def _schema(name: str) -> Any:
    # The expanded schemas are written for the peer by the benchmark (no registry client here).
    return fastavro.parse_schema(json.loads(os.environ[f"BENCH_SCHEMA_{name.upper()}"]))


def _framed(schema_id: int, schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(b"\x00" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def main() -> None:
    prefix = os.environ["INTELBUS_TOPIC_PREFIX"]
    policy = load_policy_set(Path(os.environ["INTELBUS_POLICIES_DIR"]))
    engine = PolicyEngine(policy, AuthorizationBook())
    recipients = list(policy.recipients)
    topics = load_topic_map(ROOT / "deploy" / "topics.yaml", prefix)
    lookout_schema, pointer_schema, decision_schema = (
        _schema(n) for n in ("lookout", "pointer", "decision")
    )
    ids = {
        n: int(os.environ[f"BENCH_SCHEMA_ID_{n.upper()}"])
        for n in ("lookout", "pointer", "decision")
    }

    app = Application(
        broker_address=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        consumer_group=f"{os.environ['INTELBUS_ROUTER_GROUP']}.quix",
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=int(os.environ.get("INTELBUS_COMMIT_INTERVAL_MS", "100")) / 1000,
        auto_create_topics=False,
        use_changelog_topics=False,
        loglevel="WARNING",
    )
    inbound = app.topic(
        topics.lookouts("cbp"),
        value_deserializer="bytes",
        key_deserializer="bytes",
    )

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
                source=Position(inbound.name, 0, 0),
                feed_topic=None,
            )
            decisions.append(_framed(ids["decision"], decision_schema, avro_dict(decision)))
        return {"views": views, "decisions": decisions}

    sdf = app.dataframe(inbound).apply(route)
    for recipient in recipients:
        feed = app.topic(topics.feed(recipient), value_serializer="bytes")
        sdf.apply(lambda v, r=recipient: v["views"][r]).filter(lambda v: v is not None).to_topic(
            feed
        )
    decisions_topic = app.topic(topics.decisions, value_serializer="bytes")
    sdf.apply(lambda v: v["decisions"], expand=True).to_topic(decisions_topic)
    app.run()


if __name__ == "__main__":
    main()
