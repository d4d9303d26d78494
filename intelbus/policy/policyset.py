"""The policy set: ``policies/`` (agencies, recipients, rules, sensitive terms), validated
together.

Every rule of the brief must be present exactly once, each with the values it needs; the
version is a content hash of the files of ``policies/`` so every decision can name the exact
policy it was made under.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from intelbus.errors import IntelbusError
from intelbus.models import DeclaredPurpose, Lookout, Marking, Tlp
from intelbus.models.records import Country, NonEmpty
from intelbus.policy import redaction
from intelbus.policy.agencies import Agency, load_agencies
from intelbus.policy.recipients import Recipient, load_recipients
from intelbus.policy.sensitive import SensitiveTerms, load_sensitive_terms
from intelbus.yamlfile import load_yaml_model, refuse_repeated

__all__ = ["DECONFLICTION_RULE_IDS", "RULE_IDS", "PolicySet", "load_policy_set", "policy_version"]

RULES_FILE = "rules.yaml"
RULE_IDS = (
    "dhs-need-to-know",
    "eu-pnr-scope",
    "eu-pnr-primary",
    "eu-pnr-third-party",
    "eu-pnr-purpose",
    "eu-pnr-sensitive",
    "eu-pnr-depersonalize",
    "eu-pnr-foreign",
    "third-agency",
    "noforn",
    "tlp",
    "most-restrictive",
    "expiry",
    "fail-closed",
    "officer-safety",
)
# The rules of deconfliction notices (intelbus.policy.deconfliction), required like the above.
DECONFLICTION_RULE_IDS = (
    "deconfliction",
    "deconfliction-noforn",
    "deconfliction-eu-pnr",
    "deconfliction-orcon",
    "deconfliction-check",
)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: NonEmpty
    source: NonEmpty


class PlainRule(_Rule):
    id: Literal[
        "dhs-need-to-know",
        "most-restrictive",
        "expiry",
        "fail-closed",
        "officer-safety",
        "deconfliction",
        "deconfliction-noforn",
        "deconfliction-eu-pnr",
        "deconfliction-orcon",
        "deconfliction-check",
    ]


class PnrScopeRule(_Rule):
    id: Literal["eu-pnr-scope"]
    countries: frozenset[Country] = Field(min_length=1)


class PnrPrimaryRule(_Rule):
    id: Literal["eu-pnr-primary"]
    primary_receivers: frozenset[NonEmpty] = Field(min_length=1)


class PnrThirdPartyRule(_Rule):
    id: Literal["eu-pnr-third-party"]
    approving_agency: NonEmpty
    removes: tuple[NonEmpty, ...] = Field(min_length=1)


class PnrPurposeRule(_Rule):
    id: Literal["eu-pnr-purpose"]
    permitted_purposes: frozenset[DeclaredPurpose] = Field(min_length=1)
    removes: tuple[NonEmpty, ...] = Field(min_length=1)


class PnrSensitiveRule(_Rule):
    id: Literal["eu-pnr-sensitive"]
    removes: tuple[NonEmpty, ...] = Field(min_length=1)
    scans: tuple[NonEmpty, ...] = Field(min_length=1)  # free text searched for sensitive terms


class PnrDepersonalizeRule(_Rule):
    id: Literal["eu-pnr-depersonalize"]
    after_days: int = Field(ge=1)
    masks: tuple[NonEmpty, ...] = Field(min_length=1)


class PnrForeignRule(_Rule):
    id: Literal["eu-pnr-foreign"]
    removes: tuple[NonEmpty, ...] = Field(min_length=1)
    notification: NonEmpty


class MarkingRule(_Rule):
    id: Literal["third-agency", "noforn"]
    markings: frozenset[Marking] = Field(min_length=1)


class TlpRule(_Rule):
    id: Literal["tlp"]
    named_recipients_only: frozenset[Tlp]
    originator_only: frozenset[Tlp]

    @model_validator(mode="after")
    def _one_meaning_per_label(self) -> Self:
        both = sorted(self.named_recipients_only & self.originator_only)
        if both:
            raise ValueError(f"{both} cannot be both named-recipients-only and originator-only")
        return self


Rule = Annotated[
    PlainRule
    | PnrScopeRule
    | PnrPrimaryRule
    | PnrThirdPartyRule
    | PnrPurposeRule
    | PnrSensitiveRule
    | PnrDepersonalizeRule
    | PnrForeignRule
    | MarkingRule
    | TlpRule,
    Field(discriminator="id"),
]


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _every_rule_once(self) -> Self:
        ids = [rule.id for rule in self.rules]
        required = RULE_IDS + DECONFLICTION_RULE_IDS
        missing = [rule_id for rule_id in required if rule_id not in ids]
        if missing:
            raise ValueError(f"missing rules (the router fails closed without them): {missing}")
        refuse_repeated(type(self).__name__, "rules", ids)
        return self


def policy_version(policies_dir: Path) -> str:
    """sha256 over every file of ``policies/`` (names and contents), first 16 hex digits."""
    digest = hashlib.sha256()
    for path in sorted(p for p in policies_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(policies_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()[:16]}"


R = TypeVar("R", bound=_Rule)


def _typed(rules: dict[str, Rule], rule_id: str, rule_type: type[R]) -> R:
    rule = rules[rule_id]
    assert isinstance(rule, rule_type), f"{rule_id} parsed as {type(rule).__name__}"
    return rule


@dataclass(frozen=True)
class PolicySet:
    """Recipients by id and every rule, typed, ready for the policy engine."""

    version: str
    agencies: dict[str, Agency]
    recipients: dict[str, Recipient]
    sensitive_terms: SensitiveTerms
    descriptions: dict[str, str]
    pnr_scope: PnrScopeRule
    pnr_primary: PnrPrimaryRule
    pnr_third_party: PnrThirdPartyRule
    pnr_purpose: PnrPurposeRule
    pnr_sensitive: PnrSensitiveRule
    pnr_depersonalize: PnrDepersonalizeRule
    pnr_foreign: PnrForeignRule
    third_agency: MarkingRule
    noforn: MarkingRule
    tlp: TlpRule


def _check_paths(rules_file: Path, policy: PolicySet) -> None:
    """Every field a PNR rule removes or masks must exist on a Lookout and allow it."""
    removing = (
        policy.pnr_third_party,
        policy.pnr_purpose,
        policy.pnr_sensitive,
        policy.pnr_foreign,
    )
    checks: list[tuple[str, str, bool]] = [
        (rule.id, path, False) for rule in removing for path in rule.removes
    ]
    checks += [(policy.pnr_depersonalize.id, path, True) for path in policy.pnr_depersonalize.masks]
    checks += [(policy.pnr_sensitive.id, path, True) for path in policy.pnr_sensitive.scans]
    for rule_id, path, maskable in checks:
        try:
            redaction.check_path(Lookout, path, maskable=maskable)
        except ValueError as error:
            raise IntelbusError(f"{rules_file}: rule {rule_id}: {error}") from None


def load_policy_set(policies_dir: Path) -> PolicySet:
    """Load and cross-check the policy set; raise naming file, line and field on any error."""
    recipients = {r.id: r for r in load_recipients(policies_dir)}
    rules: dict[str, Rule] = {
        rule.id: rule for rule in load_yaml_model(policies_dir / RULES_FILE, RulesFile).rules
    }
    policy = PolicySet(
        version=policy_version(policies_dir),
        agencies=load_agencies(policies_dir),
        recipients=recipients,
        sensitive_terms=load_sensitive_terms(policies_dir),
        descriptions={rule_id: rule.description for rule_id, rule in rules.items()},
        pnr_scope=_typed(rules, "eu-pnr-scope", PnrScopeRule),
        pnr_primary=_typed(rules, "eu-pnr-primary", PnrPrimaryRule),
        pnr_third_party=_typed(rules, "eu-pnr-third-party", PnrThirdPartyRule),
        pnr_purpose=_typed(rules, "eu-pnr-purpose", PnrPurposeRule),
        pnr_sensitive=_typed(rules, "eu-pnr-sensitive", PnrSensitiveRule),
        pnr_depersonalize=_typed(rules, "eu-pnr-depersonalize", PnrDepersonalizeRule),
        pnr_foreign=_typed(rules, "eu-pnr-foreign", PnrForeignRule),
        third_agency=_typed(rules, "third-agency", MarkingRule),
        noforn=_typed(rules, "noforn", MarkingRule),
        tlp=_typed(rules, "tlp", TlpRule),
    )
    _check_paths(policies_dir / RULES_FILE, policy)
    unknown = sorted(policy.pnr_primary.primary_receivers - set(recipients))
    if unknown:
        raise IntelbusError(
            f"{policies_dir / RULES_FILE}: eu-pnr-primary.primary_receivers names unknown "
            f"recipients {unknown}; known: {sorted(recipients)}"
        )
    return policy
