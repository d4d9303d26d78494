"""Read a file of JSON lines into models, each line bounded before it is parsed, and a line
that is not a valid model named with its field and reason (never a traceback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from intelbus.errors import IntelbusError

__all__ = ["read_models"]

M = TypeVar("M", bound=BaseModel)


def read_models(path: Path, model: type[M], *, max_line: int, what: str) -> Iterator[M]:
    """Every non-blank line of ``path`` as a ``model`` (``what`` names the file's kind)."""
    try:
        with path.open("rb") as stream:
            for number, line in enumerate(iter(lambda: stream.readline(max_line + 1), b""), 1):
                if len(line) > max_line:
                    raise IntelbusError(f"{path} line {number}: longer than {max_line} bytes")
                if line.strip():
                    yield _parse(path, number, line, model)
    except OSError as error:
        raise IntelbusError(f"cannot read the {what} {path}: {error.strerror}") from None


def _parse(path: Path, number: int, line: bytes, model: type[M]) -> M:
    try:
        return model.model_validate_json(line)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(map(str, problem["loc"])) or "line"
        raise IntelbusError(f"{path} line {number}: {field}: {problem['msg']}") from None
