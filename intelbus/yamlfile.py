"""Load a YAML file into a pydantic model; every error names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from intelbus.errors import IntelbusError

__all__ = ["YamlError", "load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


class YamlError(IntelbusError):
    """A YAML file is unreadable or does not validate; the message lists every problem."""


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Follow ``loc`` (a pydantic error location) through the YAML node tree to a line."""
    line = node.start_mark.line + 1 if node else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                continue  # e.g. a discriminator's tag in the location: not a YAML key
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                break
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse ``path`` and validate it as ``model``; raise :class:`YamlError` naming each problem."""
    try:
        text = path.read_text()
    except OSError as error:
        raise YamlError(f"{path}: cannot read: {error.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f":{mark.line + 1}" if mark else ""
        raise YamlError(f"{path}{where}: not valid YAML: {error.problem}") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            loc = tuple(problem["loc"])
            field = ".".join(str(part) for part in loc) or "(top level)"
            line = _line_of(node, loc)
            problems.append(f"{path}:{line}: {field}: {problem['msg']}")
        raise YamlError("\n".join(problems)) from None
