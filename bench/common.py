"""What every benchmark needs: a private namespace of topics, preloaded events, a process to
measure (CPU seconds, peak RSS, progress of its consumer group) and the machine it ran on."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka.admin import (
    AdminClient,
)

from intelbus import clients, serde
from intelbus.access.broker import drop_prefixed, inspect_access
from intelbus.access.principals import Principals, load_principals
from intelbus.models import Record
from intelbus.names import topic_map
from intelbus.settings import Settings
from intelbus.topics import TopicMap, apply_topics
from producers.publisher import Publisher
from services.router.progress import LaneProgress, routing_targets

__all__ = [
    "Measured",
    "Namespace",
    "RoutingProgress",
    "bench_policies",
    "drop_namespaces",
    "machine",
    "percentiles",
    "preload",
    "run_until_consumed",
]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Progress samples: fine enough for runs of many seconds, cheap on the router's own CPUs.
_SAMPLE_PERIOD_S = 0.05


def bench_policies(fanout: int, into: Path) -> Path:
    """A copy of policies/ whose recipients are ``fanout`` nationwide DHS subscribers of every
    category (cbp, ice, then clones of ice), so every event goes to every recipient."""
    into.mkdir(parents=True, exist_ok=True)
    for path in Settings().policies_dir.glob("*.yaml"):
        if path.name != "recipients.yaml":
            shutil.copy(path, into / path.name)
    recipients = yaml.safe_load((Settings().policies_dir / "recipients.yaml").read_text())
    base = {r["id"]: r for r in recipients["recipients"]}
    chosen = [base["cbp"], base["ice"]] + [
        base["ice"] | {"id": f"dhs-{n}", "name": f"DHS component {n}"} for n in range(fanout)
    ]
    (into / "recipients.yaml").write_text(yaml.safe_dump({"recipients": chosen[:fanout]}))
    return into


def grant(admin: AdminClient, settings: Settings, topics: TopicMap, principals: Principals) -> None:
    """Create the ACLs the data grants on ``settings``' prefix, like ``access apply`` but
    without its user management: ``apply`` revokes every stored principal missing from the
    data, and a benchmark's policy set (its own recipients) must not revoke the live bus's
    subscribers. Principals without a SCRAM user (the benchmark's extra recipients) are never
    used to connect; their ACLs only let the router write their feeds."""
    missing = inspect_access(admin, settings, topics, principals).missing_acls
    if missing:
        for future in admin.create_acls(missing).values():
            future.result(timeout=30)


@dataclass
class Namespace:
    """Topics of one benchmark run, under a unique prefix, for the given recipients, with the
    bus's ACLs on them: every process connects as the principal it is in production."""

    settings: Settings
    topics: TopicMap
    recipients: list[str]
    principals: Principals

    @classmethod
    def create(cls, base: Settings, name: str, policies_dir: Path | None = None) -> Namespace:
        prefix = f"bench-{name}-{uuid.uuid4().hex[:6]}."
        settings = base.model_copy(
            update={
                "topic_prefix": prefix,
                "policies_dir_override": policies_dir or base.policies_dir,
            }
        )
        topics = topic_map(settings)
        principals = load_principals(settings.policies_dir)
        admin = clients.admin(settings)
        apply_topics(admin, topics.specs(principals))
        grant(admin, settings, topics, principals)
        recipients = list(principals.recipients)
        serde.register_schemas(serde.registry_client(settings), settings.schemas_dir)
        _CREATED.append(prefix)
        return cls(settings, topics, recipients, principals)

    def as_principal(self, principal: str) -> Settings:
        return self.settings.as_principal(principal)

    @property
    def router(self) -> Settings:
        return self.as_principal(self.principals.router)

    def lookout_topics(self) -> list[str]:
        """Every publisher's inbound lookouts topic (the router's lookouts lane reads all)."""
        return [self.topics.lookouts(p.id) for p in self.principals.publishers]

    def env(self, principal: str | None = None) -> dict[str, str]:
        """Environment for a child process working in this namespace (as ``principal``;
        else each command connects as its role's own principal)."""
        base = {k: v for k, v in os.environ.items() if k != "INTELBUS_PRINCIPAL"}
        settings = self.as_principal(principal) if principal else self.settings
        return base | settings.as_env()


_CREATED: list[str] = []  # the prefixes of this run's namespaces, dropped at its end


def drop_namespaces(settings: Settings, prefixes: Sequence[str] | None = None) -> int:
    """Delete the topics and ACLs of this run's namespaces (or of ``prefixes``): the stack
    is shared, and a benchmark leaves hundreds of partitions behind. Returns topics deleted."""
    chosen = tuple(_CREATED if prefixes is None else prefixes)
    if not chosen:
        return 0
    admin = clients.admin(settings)  # must outlive the futures
    return drop_prefixed(admin, chosen)


class RoutingProgress:
    """How much of what is now in every publisher's lookouts topic ``lane``'s consumer group
    (under the namespace's router group tag) has committed, weighted by messages."""

    def __init__(self, ns: Namespace, lane: str) -> None:
        self._parts: list[tuple[LaneProgress, int]] = []
        for topic in ns.lookout_topics():
            targets = routing_targets(ns.settings, topic)
            if targets:
                self._parts.append(
                    (LaneProgress(ns.settings, lane, topic, targets), sum(targets.values()))
                )
        self.total = sum(n for _, n in self._parts)

    def fraction(self) -> float:
        if not self.total:
            return 1.0
        return sum(progress.fraction() * n for progress, n in self._parts) / self.total

    def close(self) -> None:
        for progress, _ in self._parts:
            progress.close()

    def __enter__(self) -> RoutingProgress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def preload(ns: Namespace, records: Sequence[Record], copies: int = 1) -> int:
    """Publish ``records`` ``copies`` times over (one transaction per 20,000 records), as the
    operator: each record goes to the inbound topic of the agency it names (CBP's or ICE's
    for the generated events), as its publisher's would."""
    publisher = Publisher(ns.settings, client_id="bench-loader")
    encoded = [publisher.encode(r) for r in records]
    for _ in range(copies):
        for start in range(0, len(encoded), 20_000):
            publisher.publish_batch(encoded[start : start + 20_000])
    return len(encoded) * copies


@dataclass
class Measured:
    events: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_s_per_1000(self) -> float:
        return self.cpu_seconds / self.events * 1000


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the router runs each lane in a child process)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, IndexError):
                continue
    tree = [pid]
    for member in tree:
        tree.extend(child for child, parent in parents.items() if parent == member)
    return tree


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the process tree."""
    total = 0.0
    for member in _tree(pid):
        with contextlib.suppress(OSError):  # a member may exit while we look
            fields = _stat(member)
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _peak_rss_mb(pid: int) -> float:
    """The sum over the process tree of each process's peak resident set (VmHWM)."""
    total = 0.0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total


def run_until_consumed(
    argv: list[str], env: dict[str, str], ns: Namespace, group_lane: str, log: Path
) -> Measured:
    """Start ``argv``, wait until its consumer group has consumed everything now in every
    publisher's lookouts topic, stop it with SIGTERM. Throughput is measured from the first
    committed progress to 100%, so that start-up (imports, group join) does not count;
    progress moves once per commit interval, so a run should last many intervals."""
    progress = RoutingProgress(ns, group_lane)
    total = progress.total
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
    try:
        start: tuple[float, float, float] | None = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited with {process.returncode}; see {log}")
            fraction = progress.fraction()
            now = time.monotonic()
            if start is None and fraction > 0:
                start = (now, fraction, _cpu_seconds(process.pid))
            if fraction >= 1.0 and start is not None:
                measured = Measured(
                    events=round((fraction - start[1]) * total),
                    seconds=now - start[0],
                    cpu_seconds=_cpu_seconds(process.pid) - start[2],
                    peak_rss_mb=_peak_rss_mb(process.pid),
                )
                return measured
            time.sleep(_SAMPLE_PERIOD_S)  # a sampling period, not a wait for a condition
        raise TimeoutError(f"{argv} did not consume {total} events in 600s")
    finally:
        progress.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def percentiles(
    samples: list[float], points: tuple[float, ...] = (50, 99, 99.9)
) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {f"p{p:g}": float("nan") for p in points}
    return {f"p{p:g}": ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] for p in points}


def machine(settings: Settings) -> dict[str, Any]:
    import confluent_kafka  # noqa: PLC0415
    import fastavro  # noqa: PLC0415

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "kafka": settings.kafka_versions[0],
        "apicurio_registry": settings.registry_versions[0],
        "confluent_kafka": confluent_kafka.version(),
        "librdkafka": confluent_kafka.libversion()[0],
        "fastavro": fastavro.__version__,
    }
