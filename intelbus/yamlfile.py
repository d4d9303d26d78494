"""Load a YAML file into a pydantic model; every error names the file, the line and the field."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from intelbus.errors import IntelbusError
from intelbus.utf8 import NotUtf8, decode_utf8

__all__ = ["YamlError", "load_yaml_model", "refuse_repeated"]

M = TypeVar("M", bound=BaseModel)
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlError(IntelbusError):
    """A YAML file is unreadable or does not validate; the message lists every problem."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key repeated in one mapping is an error: YAML
    says keys are unique, yet PyYAML keeps the last value and so drops the first silently."""

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Hashable, object]:
        seen: dict[Hashable, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *defaults` merges; the keys it brings may be overridden
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def refuse_repeated(title: str, field: str, ids: Sequence[str], key: str = "id") -> None:
    """For a model validator: raise a ValidationError at each entry of list ``field`` whose
    ``key`` repeats an earlier entry's, so the error names the repeat's own line."""
    first: dict[str, int] = {}
    errors: list[InitErrorDetails] = []
    for index, value in enumerate(ids):
        if value in first:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "repeated",
                        "'{value}' is repeated (first defined by {first})",
                        {"value": value, "first": f"{field}.{first[value]}"},
                    ),
                    loc=(field, index, key),
                    input=value,
                )
            )
        else:
            first[value] = index
    if errors:
        raise ValidationError.from_exception_data(title, errors)


def _line_of(node: yaml.Node, loc: tuple[int | str, ...]) -> int:
    """Follow ``loc`` (a pydantic error location) through the YAML node tree to a line."""
    line = node.start_mark.line + 1
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


def _compose(path: Path) -> tuple[yaml.Node | None, object]:
    """The node tree (for lines) and the data of ``path``, parsed once."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise YamlError(f"{path}: cannot read: {error.strerror}") from None
    try:
        text = decode_utf8(raw)
    except NotUtf8 as error:
        raise YamlError(f"{path}:{error.line}: {error}") from None
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f":{mark.line + 1}" if mark else ""
        raise YamlError(f"{path}{where}: not valid YAML: {error.problem}") from None
    except RecursionError:
        raise YamlError(f"{path}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def load_yaml_model(path: Path, model: type[M], context: Any = None) -> M:
    """Parse ``path`` and validate it as ``model`` (validators see ``context``); raise
    :class:`YamlError` naming each problem."""
    node, data = _compose(path)
    expected = f"expected a mapping with: {', '.join(model.model_fields)}"
    if node is None or (node.tag == _NULL_TAG and not node.value):
        raise YamlError(f"{path}:1: (top level): the file is empty; {expected}")
    if not isinstance(node, yaml.MappingNode):
        found = "a sequence" if isinstance(node, yaml.SequenceNode) else f"{node.value!r}"
        raise YamlError(
            f"{path}:{node.start_mark.line + 1}: (top level): {expected}; found {found}"
        )
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            loc = tuple(problem["loc"])
            field = ".".join(str(part) for part in loc) or "(top level)"
            problems.append(f"{path}:{_line_of(node, loc)}: {field}: {problem['msg']}")
        raise YamlError("\n".join(problems)) from None
