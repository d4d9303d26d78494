"""Verify the decision log: hash chains, signed seals, gaps (see intelbus.chain for the design).

For every chain: each decision's hash must match its content; each seal's signature must
verify with a known public key; walking back from each seal to the previous one must find
every record (sequences decreasing by one, each previousHash present) and end exactly at the
previous seal's head (or the genesis for the first seal). A decision no seal vouches for is
reported as forged or unsealed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consumers.audit.log import Entry
from intelbus.chain import GENESIS, decision_hash, seal_message, verify_seal
from intelbus.position import Position

__all__ = ["Problem", "Report", "verify_log"]


@dataclass(frozen=True, order=True)
class Problem:
    position: Position
    chain: str
    what: str

    def __str__(self) -> str:
        at = self.position
        where = f"{at.topic} partition {at.partition} offset {at.offset}"
        return f"{where}: chain {self.chain}: {self.what}"


@dataclass
class Report:
    decisions: int = 0
    seals: int = 0
    chains: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _problem(entry: Entry, chain: str, what: str) -> Problem:
    return Problem(entry.position, chain, what)


def verify_log(entries: Iterable[Entry], public_keys: dict[str, Ed25519PublicKey]) -> Report:
    report = Report()
    decisions: dict[str, list[Entry]] = defaultdict(list)
    seals: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.problem is not None:
            report.problems.append(_problem(entry, "?", f"unreadable record: {entry.problem}"))
        elif entry.decision is not None:
            decisions[entry.decision.chain].append(entry)
            report.decisions += 1
        elif entry.seal is not None:
            seals[entry.seal.chain].append(entry)
            report.seals += 1
    chains = sorted(set(decisions) | set(seals))
    report.chains = len(chains)
    for chain in chains:
        report.problems.extend(_verify_chain(chain, decisions[chain], seals[chain], public_keys))
    report.problems.sort()
    return report


def _verify_chain(
    chain: str,
    decision_entries: list[Entry],
    seal_entries: list[Entry],
    public_keys: dict[str, Ed25519PublicKey],
) -> list[Problem]:
    problems: list[Problem] = []
    by_hash: dict[str, Entry] = {}
    for entry in decision_entries:
        assert entry.decision is not None
        record = entry.decision.to_avro()
        if decision_hash(record) != entry.decision.hash:
            problems.append(
                _problem(entry, chain, "altered record: its hash does not match its content")
            )
        elif entry.decision.hash in by_hash:
            problems.append(
                _problem(
                    entry,
                    chain,
                    "duplicate of the record at offset "
                    f"{by_hash[entry.decision.hash].position.offset}",
                )
            )
        else:
            by_hash[entry.decision.hash] = entry

    valid_seals: list[Entry] = []
    for entry in seal_entries:
        seal = entry.seal
        assert seal is not None
        key = public_keys.get(seal.key_id)
        message = seal_message(seal.chain, seal.sequence, seal.head_hash, seal.previous_seal_hash)
        if key is None:
            problems.append(_problem(entry, chain, f"seal signed by unknown key {seal.key_id}"))
        elif not verify_seal(key, message, seal.signature):
            problems.append(_problem(entry, chain, "forged seal: the signature does not verify"))
        else:
            valid_seals.append(entry)

    authentic: set[str] = set()
    previous_head = GENESIS
    for entry in sorted(
        valid_seals, key=lambda e: (e.seal.sequence if e.seal else 0, e.position.offset)
    ):
        seal = entry.seal
        assert seal is not None
        if seal.previous_seal_hash != previous_head:
            what = (
                "records missing before the first seal (the chain does not start at its genesis)"
                if previous_head == GENESIS
                else "a seal is missing: this seal does not follow the previous one"
            )
            problems.append(_problem(entry, chain, what))
        problems.extend(_walk_back(chain, entry, by_hash, authentic))
        previous_head = seal.head_hash

    for record_hash, entry in by_hash.items():
        if record_hash not in authentic:
            problems.append(
                _problem(entry, chain, "forged or unsealed record: no signed seal vouches for it")
            )
    return problems


def _walk_back(
    chain: str, seal_entry: Entry, by_hash: dict[str, Entry], authentic: set[str]
) -> list[Problem]:
    """Follow previousHash links from the seal's head down to the previous seal's head."""
    seal = seal_entry.seal
    assert seal is not None
    current, expected_sequence, pointer = seal.head_hash, seal.sequence, seal_entry
    while current not in (seal.previous_seal_hash, GENESIS):
        entry = by_hash.get(current)
        if entry is None:
            return [
                _problem(
                    pointer,
                    chain,
                    f"gap: record {expected_sequence} (hash {current[:12]}...) is missing",
                )
            ]
        decision = entry.decision
        assert decision is not None
        if decision.sequence != expected_sequence:
            return [
                _problem(
                    entry, chain, f"sequence {decision.sequence} where {expected_sequence} belongs"
                )
            ]
        authentic.add(current)
        current, expected_sequence, pointer = decision.previous_hash, expected_sequence - 1, entry
    return []
