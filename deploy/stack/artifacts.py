"""Fetch the stack's Java artifacts from Maven Central, once, into a versioned cache.

Kafka's classpath comes from ``deploy/maven/pom.xml`` (``dependency:copy-dependencies``): the
broker and Kafka's own command-line tools (``kafka-tools``: ConsoleConsumer, ...). Apicurio
Registry is its ``-all`` tar.gz, unpacked so ``quarkus-run.jar`` sits at the root.
Each is fetched into a temporary directory and renamed into place, so an interrupted fetch
never leaves a half-filled cache that a later ``stack up`` would trust. A cached version that
lacks a file the current pom brings (an older cache without the tools) is fetched again.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from intelbus.errors import IntelbusError

__all__ = ["Artifacts", "ensure_artifacts"]

POM = Path(__file__).resolve().parent.parent / "maven" / "pom.xml"
KAFKA_COORDINATE = "org.apache.kafka:kafka_2.13:{version}"
REGISTRY_COORDINATE = "io.apicurio:apicurio-registry-app:{version}:tar.gz:all"
_COMPLETE = ".complete"
# The files a complete cache of each version holds (a cache without one is fetched again).
KAFKA_REQUIRED = ("kafka_2.13-{version}.jar", "kafka-tools-{version}.jar")
REGISTRY_REQUIRED = ("quarkus-run.jar",)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Artifacts:
    kafka_version: str
    kafka_libs: Path
    registry_version: str
    registry_dir: Path

    @property
    def registry_jar(self) -> Path:
        return self.registry_dir / "quarkus-run.jar"


def _maven(args: Sequence[str]) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise IntelbusError(
            "Maven (mvn) is not on PATH; it fetches Kafka and Apicurio Registry from Maven "
            "Central. Install it (Debian: apt-get install maven)."
        )
    proc = subprocess.run(
        [mvn, "-B", "-q", "-f", str(POM), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        errors = [line for line in proc.stdout.splitlines() if line.startswith("[ERROR]")]
        detail = "\n".join(errors[:3]) or (proc.stderr or proc.stdout).strip()[-800:]
        raise _FetchFailed(detail)


class _FetchFailed(Exception):
    pass


def _fetch_kafka(version: str, into: Path) -> None:
    _maven(
        [
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={into}",
        ]
    )
    for required in KAFKA_REQUIRED:
        if not (into / required.format(version=version)).is_file():
            raise _FetchFailed(f"{required.format(version=version)} missing after the copy")


def _fetch_registry(version: str, into: Path) -> None:
    download = into.parent / f"{into.name}-download"
    download.mkdir()
    coordinate = REGISTRY_COORDINATE.format(version=version)
    _maven(["dependency:copy", f"-Dartifact={coordinate}", f"-DoutputDirectory={download}"])
    tarball = next(download.glob("*.tar.gz"), None)
    if tarball is None:
        raise _FetchFailed(f"no tar.gz after copying {coordinate}")
    with tarfile.open(tarball) as archive:
        archive.extractall(into, filter="data")
    shutil.rmtree(download)
    for required in REGISTRY_REQUIRED:
        if not (into / required).is_file():
            raise _FetchFailed(f"{coordinate} has no {required} at its root")


def _is_complete(target: Path, version: str, required: Sequence[str]) -> bool:
    """Was ``target`` fetched to the end, and does it hold every file the pom now brings?"""
    return (target / _COMPLETE).exists() and all(
        (target / name.format(version=version)).is_file() for name in required
    )


def _ensure_one(
    name: str,
    *,
    cache: Path,
    versions: Sequence[str],
    coordinate: str,
    required: Sequence[str],
    fetch: Callable[[str, Path], None],
    say: Say,
) -> tuple[str, Path]:
    """Return the first version of ``versions`` that is completely cached or can be fetched."""
    for version in versions:
        target = cache / f"{name}-{version}"
        if _is_complete(target, version, required):
            return version, target
    failures: list[str] = []
    for version in versions:
        target = cache / f"{name}-{version}"
        say(f"fetching {coordinate.format(version=version)} from Maven Central ...")
        started = time.monotonic()
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache, prefix=f".{name}-") as tmp:
            staging = Path(tmp) / "staging"
            staging.mkdir()
            try:
                fetch(version, staging)
            except _FetchFailed as failure:
                failures.append(f"  {coordinate.format(version=version)}: {failure}")
                say(f"  could not fetch {version}; trying the next version")
                continue
            (staging / _COMPLETE).write_text(f"{coordinate.format(version=version)}\n")
            if target.exists():
                # An incomplete earlier fetch: moved aside (deleted with the temporary
                # directory), so a running process never sees the directory half-removed.
                target.rename(Path(tmp) / "replaced")
            staging.rename(target)
        say(f"  fetched in {time.monotonic() - started:.1f}s -> {target}")
        return version, target
    raise IntelbusError(
        f"could not fetch {name} from Maven Central (is it reachable? is ~/.m2/settings.xml "
        "pointing at a mirror?). Tried:\n" + "\n".join(failures)
    )


def ensure_artifacts(
    cache: Path,
    kafka_versions: Sequence[str],
    registry_versions: Sequence[str],
    say: Say,
) -> Artifacts:
    """Make sure Kafka and Apicurio Registry are in ``cache``; fetch only what is missing."""
    kafka_version, kafka_dir = _ensure_one(
        "kafka",
        cache=cache,
        versions=kafka_versions,
        coordinate=KAFKA_COORDINATE,
        required=KAFKA_REQUIRED,
        fetch=_fetch_kafka,
        say=say,
    )
    registry_version, registry_dir = _ensure_one(
        "apicurio-registry",
        cache=cache,
        versions=registry_versions,
        coordinate=REGISTRY_COORDINATE,
        required=REGISTRY_REQUIRED,
        fetch=_fetch_registry,
        say=say,
    )
    return Artifacts(kafka_version, kafka_dir, registry_version, registry_dir)
