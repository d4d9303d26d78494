"""The maintained list of sensitive PNR codes and terms (``policies/sensitive-terms.yaml``),
and the search of free text for them (EU-US PNR Agreement 2012, Art. 6)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from intelbus.models import SensitiveCategory
from intelbus.models.records import NonEmpty
from intelbus.yamlfile import load_yaml_model

__all__ = ["SensitiveTerms", "load_sensitive_terms"]

SENSITIVE_TERMS_FILE = "sensitive-terms.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryTerms(_Strict):
    codes: tuple[NonEmpty, ...]
    terms: tuple[NonEmpty, ...]


class SensitiveTermsFile(_Strict):
    source: NonEmpty
    owner: NonEmpty
    reviewed: dt.date
    categories: dict[SensitiveCategory, CategoryTerms]

    @model_validator(mode="after")
    def _every_category(self) -> Self:
        missing = sorted(set(SensitiveCategory) - set(self.categories))
        if missing:
            raise ValueError(f"every Art. 6 category needs an entry (codes and terms): {missing}")
        return self


class SensitiveTerms:
    """Finds the sensitive category a free-text PNR item reveals, if any."""

    def __init__(self, listed: SensitiveTermsFile) -> None:
        self._category: dict[str, SensitiveCategory] = {}
        for category, entry in listed.categories.items():
            for word in (*entry.codes, *entry.terms):
                self._category.setdefault(_normal(word), category)
        # Longest first, so that a phrase wins over a word it contains.
        words = sorted(self._category, key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def find(self, text: str) -> SensitiveCategory | None:
        match = self._pattern.search(text)
        return None if match is None else self._category[_normal(match.group())]

    def found(self, text: str) -> bool:
        return self._pattern.search(text) is not None


def _normal(word: str) -> str:
    return " ".join(word.lower().split())


def load_sensitive_terms(policies_dir: Path) -> SensitiveTerms:
    return SensitiveTerms(load_yaml_model(policies_dir / SENSITIVE_TERMS_FILE, SensitiveTermsFile))
