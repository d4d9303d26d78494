"""Find a Java runtime new enough for both Kafka 4.x (17+) and Apicurio Registry 3.3 (21+)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from intelbus.errors import IntelbusError

__all__ = ["REQUIRED_JAVA", "Jdk", "find_java"]

# Apicurio Registry 3.3 is compiled for Java 21 (class file 65); Kafka 4.x needs 17.
REQUIRED_JAVA = 21
_JVM_DIR = Path("/usr/lib/jvm")
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


@dataclass(frozen=True)
class Jdk:
    java: Path
    major: int

    @property
    def home(self) -> Path:
        return self.java.parent.parent


def _major_version(java: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    # Java 8 and older report "1.8".
    return int(match.group(2) or 0) if major == 1 else major


def _candidates(hint: Path | None) -> list[Path]:
    found: list[Path] = []
    if hint:
        found.append(hint / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path))
    if _JVM_DIR.is_dir():
        found.extend(sorted(_JVM_DIR.glob("*/bin/java")))
    # De-duplicate while keeping the preference order.
    unique: dict[Path, None] = {}
    for java in found:
        if java.is_file() and os.access(java, os.X_OK):
            unique.setdefault(java.resolve(), None)
    return list(unique)


def find_java(hint: Path | None = None, minimum: int = REQUIRED_JAVA) -> Jdk:
    """Return the preferred Java runtime of at least version ``minimum``.

    ``hint`` (INTELBUS_JAVA_HOME or JAVA_HOME) wins when it is new enough; otherwise the
    newest runtime on PATH or under /usr/lib/jvm is used.
    """
    seen: list[Jdk] = []
    for java in _candidates(hint):
        major = _major_version(java)
        if major is not None:
            seen.append(Jdk(java, major))
    eligible = [jdk for jdk in seen if jdk.major >= minimum]
    if hint and eligible and eligible[0].java == (hint / "bin" / "java").resolve():
        return eligible[0]
    if eligible:
        return max(eligible, key=lambda jdk: jdk.major)
    found = ", ".join(f"{jdk.java} (Java {jdk.major})" for jdk in seen) or "no java at all"
    raise IntelbusError(
        f"Java {minimum} or newer is required (Apicurio Registry 3.3 is built for Java 21; "
        f"Kafka 4.x needs 17+). Found: {found}. Install a JDK {minimum}+ (for example "
        "Eclipse Temurin 21 from adoptium.net) and point INTELBUS_JAVA_HOME or JAVA_HOME at it."
    )
