"""Plain text tables for terminals."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["table"]


def table(headers: list[str], rows: Iterable[Iterable[object]]) -> str:
    """A plain text table, columns as wide as their widest cell."""
    cells = [headers, *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
