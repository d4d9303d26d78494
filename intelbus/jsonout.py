"""JSON for people and programs: records with datetimes, dates, enums and bytes."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

__all__ = ["dumps"]


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_default, indent=indent, ensure_ascii=False)
