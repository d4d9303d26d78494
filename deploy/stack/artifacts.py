"""Fetch the stack's Java artifacts from Maven Central, once, into a versioned cache.

Kafka's classpath comes from ``deploy/maven/pom.xml`` (``dependency:copy-dependencies``);
Apicurio Registry is its ``-all`` tar.gz, unpacked so ``quarkus-run.jar`` sits at the root.
Each is fetched into a temporary directory and renamed into place, so an interrupted fetch
never leaves a half-filled cache that a later ``stack up`` would trust.
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
    if not any(into.glob(f"kafka_2.13-{version}.jar")):
        raise _FetchFailed(f"kafka_2.13-{version}.jar missing after the copy")


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
    if not (into / "quarkus-run.jar").is_file():
        raise _FetchFailed(f"{coordinate} has no quarkus-run.jar at its root")


def _ensure_one(
    name: str,
    *,
    cache: Path,
    versions: Sequence[str],
    coordinate: str,
    fetch: Callable[[str, Path], None],
    say: Say,
) -> tuple[str, Path]:
    """Return the first version of ``versions`` that is cached or can be fetched."""
    for version in versions:
        target = cache / f"{name}-{version}"
        if (target / _COMPLETE).exists():
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
            shutil.rmtree(target, ignore_errors=True)
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
        fetch=_fetch_kafka,
        say=say,
    )
    registry_version, registry_dir = _ensure_one(
        "apicurio-registry",
        cache=cache,
        versions=registry_versions,
        coordinate=REGISTRY_COORDINATE,
        fetch=_fetch_registry,
        say=say,
    )
    return Artifacts(kafka_version, kafka_dir, registry_version, registry_dir)
