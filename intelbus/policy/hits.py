"""The hit-confirmation deadlines (``policies/hits.yaml``): how long an originator has to
answer a hit on its lookout, by the lookout's priority, before the router escalates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from intelbus.models import Priority
from intelbus.yamlfile import load_yaml_model

__all__ = ["HITS_FILE", "HitDeadlines", "load_hit_deadlines"]

HITS_FILE = "hits.yaml"


class HitDeadlines(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Every priority, at least a second each.
    deadlines_s: dict[Priority, Annotated[int, Field(ge=1)]] = Field(min_length=len(Priority))

    def deadline(self, priority: Priority) -> dt.timedelta:
        return dt.timedelta(seconds=self.deadlines_s[priority])


def load_hit_deadlines(policies_dir: Path) -> HitDeadlines:
    """Every priority's deadline, in whole seconds (at least one); errors name file and line."""
    return load_yaml_model(policies_dir / HITS_FILE, HitDeadlines)
