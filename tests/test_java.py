"""Finding a Java runtime new enough for the stack, or saying what to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.stack.java import find_java
from intelbus.errors import IntelbusError


def _fake_java(tmp_path: Path, version_line: str) -> Path:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return home


def test_too_old_java_everywhere_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    monkeypatch.setenv("PATH", str(home / "bin"))
    monkeypatch.setattr("deploy.stack.java._JVM_DIR", tmp_path / "no-jvms")
    with pytest.raises(IntelbusError) as caught:
        find_java(home)
    message = str(caught.value)
    assert "Java 21 or newer is required" in message
    assert "(Java 17)" in message
    assert "INTELBUS_JAVA_HOME" in message


def test_hinted_java_wins_when_new_enough(tmp_path: Path) -> None:
    home = _fake_java(tmp_path, 'openjdk version "21.0.4" 2024-07-16')
    jdk = find_java(home)
    assert jdk.major == 21
    assert jdk.home == home.resolve()


def test_java_8_style_versions_are_understood(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _fake_java(tmp_path, 'java version "1.8.0_392"')
    monkeypatch.setenv("PATH", str(home / "bin"))
    monkeypatch.setattr("deploy.stack.java._JVM_DIR", tmp_path / "no-jvms")
    with pytest.raises(IntelbusError, match=r"\(Java 8\)"):
        find_java(None)
