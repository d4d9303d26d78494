"""Enumerations of the event contract; symbols match ``schemas/avro/intelbus.<Name>.avsc``."""

from enum import StrEnum

__all__ = [
    "AuthorizationKind",
    "Category",
    "Component",
    "Decision",
    "DeclaredPurpose",
    "DeconflictionMatch",
    "EventKind",
    "Marking",
    "NoticeKind",
    "OutcomeKind",
    "PnrSourceRegion",
    "Priority",
    "SensitiveCategory",
    "ThreatLevel",
    "Tlp",
]


class Category(StrEnum):
    TERRORIST_THREAT = "TERRORIST_THREAT"
    OFFICER_SAFETY = "OFFICER_SAFETY"
    BE_ON_LOOKOUT = "BE_ON_LOOKOUT"
    IMMIGRATION_LOOKOUT = "IMMIGRATION_LOOKOUT"
    GANG_LOOKOUT = "GANG_LOOKOUT"
    NARCOTICS = "NARCOTICS"
    OTHER = "OTHER"


class Priority(StrEnum):
    URGENT = "URGENT"
    ROUTINE = "ROUTINE"


class Component(StrEnum):
    OFO = "OFO"
    USBP = "USBP"
    AMO = "AMO"
    NTC = "NTC"
    HSI = "HSI"
    ERO = "ERO"
    OTHER = "OTHER"


class DeclaredPurpose(StrEnum):
    TERRORISM = "TERRORISM"
    SERIOUS_TRANSNATIONAL_CRIME = "SERIOUS_TRANSNATIONAL_CRIME"
    SERIOUS_THREAT_TO_LIFE = "SERIOUS_THREAT_TO_LIFE"
    IMMIGRATION_ENFORCEMENT = "IMMIGRATION_ENFORCEMENT"
    CUSTOMS_ENFORCEMENT = "CUSTOMS_ENFORCEMENT"
    OTHER = "OTHER"


class ThreatLevel(StrEnum):
    LOW = "LOW"
    ELEVATED = "ELEVATED"
    HIGH = "HIGH"
    SEVERE = "SEVERE"


class Marking(StrEnum):
    LES = "LES"
    FOUO = "FOUO"
    ORCON = "ORCON"
    NOFORN = "NOFORN"
    UNKNOWN = "UNKNOWN"


class Tlp(StrEnum):
    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER_STRICT"
    RED = "RED"


class PnrSourceRegion(StrEnum):
    EU = "EU"
    OTHER = "OTHER"


class SensitiveCategory(StrEnum):
    RACIAL_OR_ETHNIC_ORIGIN = "RACIAL_OR_ETHNIC_ORIGIN"
    POLITICAL_OPINIONS = "POLITICAL_OPINIONS"
    RELIGIOUS_OR_PHILOSOPHICAL_BELIEFS = "RELIGIOUS_OR_PHILOSOPHICAL_BELIEFS"
    TRADE_UNION_MEMBERSHIP = "TRADE_UNION_MEMBERSHIP"
    HEALTH = "HEALTH"
    SEX_LIFE = "SEX_LIFE"


class AuthorizationKind(StrEnum):
    DISCLOSURE = "DISCLOSURE"
    SENSITIVE_BREAK_GLASS = "SENSITIVE_BREAK_GLASS"
    REPERSONALIZATION = "REPERSONALIZATION"
    FOREIGN_TRANSFER = "FOREIGN_TRANSFER"


class OutcomeKind(StrEnum):
    ARREST = "ARREST"
    SEIZURE = "SEIZURE"
    INTERDICTION = "INTERDICTION"
    REFERRAL = "REFERRAL"
    NO_ACTION = "NO_ACTION"
    OTHER = "OTHER"


class DeconflictionMatch(StrEnum):
    SAME_TARGET = "SAME_TARGET"
    PLACE_AND_TIME = "PLACE_AND_TIME"
    UNKNOWN = "UNKNOWN"


class NoticeKind(StrEnum):
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"
    HIT_UNANSWERED = "HIT_UNANSWERED"


class EventKind(StrEnum):
    LOOKOUT = "LOOKOUT"
    OFFICER_SAFETY_ALERT = "OFFICER_SAFETY_ALERT"
    DECONFLICTION_NOTICE = "DECONFLICTION_NOTICE"
    DECONFLICTION_CHECK = "DECONFLICTION_CHECK"


class Decision(StrEnum):
    DELIVER = "DELIVER"
    DELIVER_REDACTED = "DELIVER_REDACTED"
    POINTER = "POINTER"
    DENY = "DENY"
    WITHDRAW = "WITHDRAW"
    EXPIRE = "EXPIRE"
    ESCALATE = "ESCALATE"

    @property
    def label(self) -> str:
        """The lower-case name reviewers see: deliver, deliver-redacted, pointer, deny."""
        return _LABELS[self]


_LABELS = {decision: decision.value.lower().replace("_", "-") for decision in Decision}
