"""For the console's tests and bench: synthetic decision records (varied enough to search),
written straight to the decisions topic or into a store; and the console's CLI run as a
separate process (to be killed)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from cli.audit import as_reviewer, verify_bus
from consumers.audit.log import read_decision_log
from consumers.audit.trust import read_trusted_keys
from consumers.console_store.store import open_reader
from intelbus import clients, serde
from intelbus.chain import decision_hash
from intelbus.models import Decision, EventKind, PolicyDecision
from intelbus.names import topic_map
from intelbus.position import Position
from intelbus.settings import Settings
from intelbus.waiting import wait_for
from services.console.server import ConsoleServer

__all__ = [
    "CHROMIUM_MISSING",
    "RECIPIENTS",
    "RULES",
    "caught_up",
    "chromium",
    "console_process",
    "forge_decision",
    "produce_decisions",
    "running_console",
    "stored",
    "synthetic_decisions",
]

RECIPIENTS = ("cbp", "ice", "jttf-miami", "best-laredo", "ibet-blaine")
RULES = ("eu-pnr", "third-agency", "noforn", "tlp", "sensitive-terms", "disclosure")
_DECISIONS = (Decision.DELIVER, Decision.DELIVER_REDACTED, Decision.POINTER, Decision.DENY)
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def synthetic_decisions(count: int, start: int = 0) -> Iterator[PolicyDecision]:
    """``count`` decisions over about a year, about a hundred per event."""
    for i in range(start, start + count):
        decision = _DECISIONS[i % len(_DECISIONS)]
        transfer = i % 97 == 0
        yield PolicyDecision(
            decision_id=f"dec-{i}",
            event_id=f"lk-{i // 100}",
            event_version=1 + i % 3,
            event_kind=EventKind.LOOKOUT,
            recipient=RECIPIENTS[i % len(RECIPIENTS)],
            decision=decision,
            rules=sorted({RULES[i % len(RULES)], RULES[(i // 7) % len(RULES)]}),
            removed_fields=["pnr"] if decision is Decision.DELIVER_REDACTED else [],
            authorization_ids=[f"auth-{i % 50}"] if transfer else [],
            onward_transfer=transfer,
            carried_eu_pnr=i % 3 == 0,
            delivered_eu_pnr=transfer or (i % 3 == 0 and decision is Decision.DELIVER),
            notifications=[],
            reason="synthetic",
            policy_version=f"policy-{i % 4}",
            decided_at=START + dt.timedelta(seconds=30 * i),
            source_topic="intel.inbound.lookouts.cbp",
            source_partition=i % 6,
            source_offset=i,
            feed_topic=None,
            chain=f"intel.inbound.lookouts.cbp/{i % 6}@0",
            sequence=i,
            previous_hash="0" * 64,
            hash=f"{i:064x}",
        )


def produce_decisions(
    settings: Settings, topic: str, records: list[PolicyDecision]
) -> set[Position]:
    """Write ``records`` to the decisions topic; where each landed."""
    writer = serde.RecordSerializer(
        serde.registry_client(settings), PolicyDecision, settings.schemas_dir
    )
    landed: set[Position] = set()
    producer = clients.producer(settings, "console-test")
    for record in records:
        producer.produce(
            topic,
            writer.serialize(record, topic),
            record.event_id.encode(),
            on_delivery=lambda err, msg: landed.add(Position.of(msg)) if err is None else None,
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert len(landed) == len(records), "some records were not written"
    return landed


def console_process(directory: Path, *args: str) -> subprocess.Popen[bytes]:
    """``intelbus console --dir DIRECTORY ARGS`` in a process of its own (the environment's
    settings: those of the test's bus)."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "console", "--dir", str(directory), *args],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@contextlib.contextmanager
def running_console(
    settings: Settings, directory: Path, trusted_keys: Path | None = None
) -> Iterator[ConsoleServer]:
    """The console on a free port, reading the bus as the reviewer, verifying the chains
    with ``trusted_keys`` (when given) as `intelbus console serve --trusted-keys` does."""
    verify = None
    if trusted_keys is not None:
        verify = functools.partial(
            verify_bus, settings, topic_map(settings).decisions, read_trusted_keys(trusted_keys)
        )
    with ConsoleServer(
        as_reviewer(settings), directory / "store.sqlite", directory, verify, port=0
    ) as console:
        yield console


def stored(console: ConsoleServer) -> int:
    """Decisions in the console's store."""
    with open_reader(console.state.store_path) as db:
        return int(db.execute("SELECT count(*) FROM decisions").fetchone()[0])


def caught_up(console: ConsoleServer, settings: Settings) -> None:
    """Wait until the console's store holds every decision of the topic now."""
    expected = sum(
        1 for e in read_decision_log(settings, topic_map(settings).decisions) if e.decision
    )
    wait_for(lambda: stored(console) >= expected, timeout=120, what=f"{expected} decisions stored")


CHROMIUM_MISSING = (
    "the console's browser tests need Debian's chromium: `apt-get install chromium` "
    "(`make test` installs it when run as root with apt)"
)


def chromium() -> str:
    """Where Debian's chromium is; the browser tests fail (never skip) without it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise FileNotFoundError(CHROMIUM_MISSING)
    return found


def forge_decision(settings: Settings) -> Position:
    """A forger who can write the decisions topic appends a well-formed, correctly hashed
    decision linked to the longest chain's head, which no seal vouches for; where it is."""
    topic = topic_map(settings).decisions
    head = max(
        (e.decision for e in read_decision_log(settings, topic) if e.decision),
        key=lambda d: d.sequence,
    )
    forged = head.to_avro() | {
        "decisionId": f"{head.chain}#{head.sequence + 1}",
        "recipient": "ibet-blaine",
        "decision": "DELIVER",
        "sequence": head.sequence + 1,
        "previousHash": head.hash,
    }
    forged["hash"] = decision_hash(forged)
    [position] = produce_decisions(settings, topic, [PolicyDecision.model_validate(forged)])
    return position
