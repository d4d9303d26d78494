"""The example events of ``examples/``, optionally moved in time so they are current.

The examples are written as of :data:`WRITTEN_AS_OF`; the demo and the tests shift every
timestamp by the same amount so that, whenever they run, nothing has expired and the
intervals between times (PNR age, authorization windows) stay as written.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, TypeVar

from intelbus.models import Record
from intelbus.settings import Settings

__all__ = ["EXAMPLES_DIR", "WRITTEN_AS_OF", "load_example", "shift_times"]

EXAMPLES_DIR = Settings().examples_dir
WRITTEN_AS_OF = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

R = TypeVar("R", bound=Record)


def _shift(value: Any, delta: dt.timedelta) -> Any:
    if isinstance(value, dt.datetime):
        return value + delta
    if isinstance(value, dict):
        return {key: _shift(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, delta) for item in value]
    return value


def shift_times(record: R, delta: dt.timedelta) -> R:
    """A copy of ``record`` with every timestamp moved by ``delta`` (dates of birth stay)."""
    return type(record).model_validate(_shift(record.model_dump(), delta))


def load_example(path: Path, model: type[R], now: dt.datetime | None = None) -> R:
    """Read an example; with ``now``, move it so that it reads as written on ``now``."""
    record = model.model_validate(json.loads(path.read_text()))
    return record if now is None else shift_times(record, now - WRITTEN_AS_OF)
