"""What a subscriber handled: the JSON lines ``intelbus subscribe --json`` prints, one per
item handled (a subscriber killed after printing an item and before committing it prints
it again when it restarts: at least once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from intelbus.jsonlines import read_models

__all__ = ["Receipt", "read_receipts"]

# A line carries the delivered record: a few times the router's event limit at most.
_MAX_LINE = 8 * 1024 * 1024


class Receipt(BaseModel):
    """One handled item: which decision's delivery, read where (feed or alerts topic)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(min_length=1)
    decision_id: str = Field(min_length=1)
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


def read_receipts(path: Path) -> Iterator[Receipt]:
    """Every receipt of ``path``; a line that is not one is an error naming line and field."""
    return read_models(path, Receipt, max_line=_MAX_LINE, what="receipts")
