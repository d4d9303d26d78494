"""``intelbus asyncapi [--output FILE] [--check]``: the AsyncAPI document of the bus."""

from __future__ import annotations

import argparse
import difflib
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from intelbus.access.principals import load_principals
from intelbus.asyncapi import build_document, render
from intelbus.names import topic_map
from intelbus.settings import Settings

__all__ = ["DEFAULT_FILE", "document_text", "register"]

DEFAULT_FILE = Path("docs") / "asyncapi.yaml"
_DIFF_LINES = 40  # enough to see what changed; the regenerated file shows the rest


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "asyncapi", help="print, write or check the AsyncAPI 3 document of the bus"
    )
    parser.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="write the document to FILE"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"fail unless FILE (--output, default {DEFAULT_FILE}) is current",
    )
    parser.set_defaults(run=_run)


def document_text(settings: Settings) -> str:
    """The document of the bus these settings describe, rendered as YAML."""
    document = build_document(
        topic_map(settings),
        load_principals(settings.policies_dir),
        settings.schemas_dir,
        version=version("intelbus"),
    )
    return render(document)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    text = document_text(settings)
    if args.check:
        return _check(args.output or settings.data_dir / DEFAULT_FILE, text)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


def _check(path: Path, text: str) -> int:
    regenerate = f"regenerate it with `intelbus asyncapi --output {path}`"
    if not path.is_file():
        print(f"intelbus: {path} does not exist; {regenerate}", file=sys.stderr)
        return 1
    current = path.read_text()
    if current == text:
        print(f"{path} is current")
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile=f"{path} (committed)",
        tofile="generated",
    )
    sys.stderr.writelines(list(diff)[:_DIFF_LINES])
    print(
        f"intelbus: {path} is out of date with deploy/topics.yaml, policies/ and schemas/avro/; "
        f"{regenerate}",
        file=sys.stderr,
    )
    return 1
