"""``intelbus deconflict check``: ask before acting, and read the answer.

The question is published on the asker's operations topic (its publisher's: the topic proves
who asks); the service answers in the transaction that consumes it, so once its group has
committed past the question, every answer exists. The answers shown are those the router's
notice rules deliver to the asker's own recipient (intelbus.policy.deconfliction: the same
function, so an ORCON or EU PNR match the router would withhold is withheld here too); the
router's delivery to the asker's feed and its decisions are the record.
"""

from __future__ import annotations

from confluent_kafka import TopicPartition

from intelbus import clients
from intelbus.models import Decision, DeconflictionCheck, DeconflictionNotice
from intelbus.names import deconflict_group, topic_map
from intelbus.policy.deconfliction import notice_verdict
from intelbus.policy.policyset import load_policy_set
from intelbus.position import Position
from intelbus.reader import ContractReader, Rejected
from intelbus.settings import Settings
from intelbus.topic_reader import read_to_end
from intelbus.waiting import wait_for

__all__ = ["answers", "wait_until_answered"]


def wait_until_answered(settings: Settings, asked: Position, timeout: float = 60) -> None:
    """Until the deconfliction service has committed past the question at ``asked``."""
    probe = clients.consumer(settings, deconflict_group(settings), "intelbus-deconflict-check")
    partition = TopicPartition(asked.topic, asked.partition)

    def answered() -> bool:
        (committed,) = clients.committed(probe, [partition])
        return committed.offset > asked.offset

    try:
        wait_for(answered, timeout=timeout, what="the deconfliction service to answer")
    finally:
        probe.close()


def answers(settings: Settings, check: DeconflictionCheck) -> list[DeconflictionNotice]:
    """The answers to ``check`` that the notice rules let its asker see."""
    policy = load_policy_set(settings.policies_dir)
    asker = check.asked_by.agency.upper()
    own = [r.id for r in policy.recipients.values() if r.only(asker)]
    reader = ContractReader.connect(settings, [DeconflictionNotice])
    found = []
    for message in read_to_end(settings, topic_map(settings).deconflict_notices):
        try:
            notice = reader.read(message.value()).record
        except Rejected:
            continue  # the question itself, or anything else the topic holds
        if not isinstance(notice, DeconflictionNotice) or notice.your_event_id != check.check_id:
            continue
        if any(notice_verdict(policy, notice, r).decision is Decision.DELIVER for r in own):
            found.append(notice)
    return found
