"""Verify the decision log: hash chains, signed seals, gaps, and that nothing was cut off
(see intelbus.chain for the design).

For every chain: each decision's hash must match its content; each seal must be signed,
every field of it, by a trusted key (consumers/audit/trust.py: the pinned keys, followed
through the log's key rotations); a seal written twice is a duplicate; walking back from
each seal to the previous one must find every record (sequences decreasing by one, each
previousHash present) and end exactly at the previous seal's head and sequence (or at the
genesis, for the first seal). A decision no seal vouches for is reported as forged or
unsealed. Last, every anchor (consumers/audit/anchors.py: a chain head the router committed,
a reviewer's checkpoint) must be among the valid seals: a log that ends before one was cut
short.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consumers.audit.anchors import Anchor
from consumers.audit.log import Entry
from consumers.audit.problem import Problem
from consumers.audit.trust import Keyring
from intelbus.chain import GENESIS, decision_hash
from intelbus.models import ChainSeal
from intelbus.position import Position

__all__ = ["Report", "verify_log"]


@dataclass
class Report:
    decisions: int = 0
    seals: int = 0
    chains: int = 0
    rotations: int = 0
    anchors: int = 0
    keys: list[str] = field(default_factory=list)  # trusted, after following rotations
    problems: list[Problem] = field(default_factory=list)
    # The last valid seal of every chain: what a reviewer's checkpoint keeps.
    heads: dict[str, ChainSeal] = field(default_factory=dict)
    cut_short: bool = False  # an anchor lies beyond the end of the log

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(
    entries: Iterable[Entry],
    trusted_keys: Mapping[str, Ed25519PublicKey],
    anchors: Sequence[Anchor] = (),
) -> Report:
    """Verify ``entries`` (the whole decisions topic) with the reviewer's pinned keys, and
    check that they still hold every one of ``anchors``."""
    report = Report(anchors=len(anchors))
    decisions: dict[str, list[Entry]] = defaultdict(list)
    seals: dict[str, list[Entry]] = defaultdict(list)
    rotations: list[Entry] = []
    for entry in entries:
        if entry.problem is not None:
            report.problems.append(
                Problem(entry.position, "?", f"unreadable record: {entry.problem}")
            )
        elif entry.decision is not None:
            decisions[entry.decision.chain].append(entry)
        elif entry.seal is not None:
            seals[entry.seal.chain].append(entry)
        elif entry.rotation is not None:
            rotations.append(entry)
    report.decisions = sum(map(len, decisions.values()))
    report.seals = sum(map(len, seals.values()))
    report.rotations = len(rotations)
    keyring = Keyring(dict(trusted_keys))
    report.problems += keyring.follow(rotations)
    report.keys = keyring.key_ids
    chains = sorted(set(decisions) | set(seals))
    report.chains = len(chains)
    valid: dict[str, list[Entry]] = {}
    for chain in chains:
        problems, valid[chain] = _verify_chain(chain, decisions[chain], seals[chain], keyring)
        report.problems += problems
    report.heads = {chain: _seal(max(v, key=_sequence)) for chain, v in valid.items() if v}
    for anchor in anchors:
        problem = _check_anchor(anchor, valid.get(anchor.chain), keyring)
        if problem is not None:
            report.problems.append(problem)
            report.cut_short |= "truncated" in problem.what
    report.problems.sort(key=Problem.sort_key)
    return report


def _seal(entry: Entry) -> ChainSeal:
    assert entry.seal is not None
    return entry.seal


def _sequence(entry: Entry) -> tuple[int, Position]:
    return _seal(entry).sequence, entry.position


def _verify_chain(
    chain: str, decision_entries: list[Entry], seal_entries: list[Entry], keyring: Keyring
) -> tuple[list[Problem], list[Entry]]:
    """The chain's problems, and its valid seals."""
    problems: list[Problem] = []
    by_hash: dict[str, Entry] = {}
    for entry in decision_entries:
        assert entry.decision is not None
        if decision_hash(entry.decision.to_avro()) != entry.decision.hash:
            what = "altered record: its hash does not match its content"
            problems.append(Problem(entry.position, chain, what))
        elif entry.decision.hash in by_hash:
            first = by_hash[entry.decision.hash].position.offset
            problems.append(
                Problem(entry.position, chain, f"duplicate of the record at offset {first}")
            )
        else:
            by_hash[entry.decision.hash] = entry

    valid: dict[tuple[int, str, str], Entry] = {}
    for entry in sorted(seal_entries, key=lambda e: e.position):
        seal = entry.seal
        assert seal is not None
        why = keyring.judge(seal)
        same = valid.get((seal.sequence, seal.head_hash, seal.previous_seal_hash))
        if why is None and same is not None:
            why = f"duplicate of the seal at offset {same.position.offset}"
        if why is not None:
            problems.append(Problem(entry.position, chain, why))
        else:
            valid[(seal.sequence, seal.head_hash, seal.previous_seal_hash)] = entry

    authentic: set[str] = set()
    previous: ChainSeal | None = None
    for entry in sorted(valid.values(), key=_sequence):
        seal = _seal(entry)
        link = _link_problem(seal, previous)
        walk, stopped_at = _walk_back(chain, entry, by_hash, authentic)
        if link is not None:
            problems.append(Problem(entry.position, chain, link))
        elif not walk:
            problems += _continuity(chain, entry, previous, stopped_at)
        problems += walk
        previous = seal

    for record_hash, entry in by_hash.items():
        if record_hash not in authentic:
            what = "forged or unsealed record: no signed seal vouches for it"
            problems.append(Problem(entry.position, chain, what))
    return problems, list(valid.values())


def _link_problem(seal: ChainSeal, previous: ChainSeal | None) -> str | None:
    """Why ``seal`` does not follow ``previous`` (the chain's seal before it), if it does not."""
    if seal.previous_seal_hash == (previous.head_hash if previous else GENESIS):
        return None
    if previous is None:
        return "records missing before the first seal (the chain does not start at its genesis)"
    if previous.sequence == seal.sequence:
        return f"a second seal of sequence {seal.sequence} with another head: the chain forks"
    return "a seal is missing: this seal does not follow the previous one"


def _continuity(
    chain: str, entry: Entry, previous: ChainSeal | None, stopped_at: int
) -> list[Problem]:
    """Sequences must go on from the previous seal (from -1 at the genesis)."""
    end = previous.sequence if previous else -1
    if stopped_at == end:
        return []
    if previous is None:
        what = f"the chain's first records start at sequence {stopped_at + 1}, not 0"
    else:
        what = (
            f"sequence jump: the previous seal ends at sequence {end}, this seal's records "
            f"start at sequence {stopped_at + 1}"
        )
    return [Problem(entry.position, chain, what)]


def _walk_back(
    chain: str, seal_entry: Entry, by_hash: dict[str, Entry], authentic: set[str]
) -> tuple[list[Problem], int]:
    """Follow previousHash links from the seal's head down to the previous seal's head; the
    problems, and the sequence the record where the walk stopped would have."""
    seal = seal_entry.seal
    assert seal is not None
    current, expected_sequence, pointer = seal.head_hash, seal.sequence, seal_entry
    while current not in (seal.previous_seal_hash, GENESIS):
        entry = by_hash.get(current)
        if entry is None:
            what = f"gap: record {expected_sequence} (hash {current[:12]}...) is missing"
            return [Problem(pointer.position, chain, what)], expected_sequence
        decision = entry.decision
        assert decision is not None
        if decision.sequence != expected_sequence:
            what = f"sequence {decision.sequence} where {expected_sequence} belongs"
            return [Problem(entry.position, chain, what)], expected_sequence
        authentic.add(current)
        current, expected_sequence, pointer = decision.previous_hash, expected_sequence - 1, entry
    return [], expected_sequence


def _check_anchor(anchor: Anchor, valid: list[Entry] | None, keyring: Keyring) -> Problem | None:
    """Why the log does not hold ``anchor`` (``valid``: the chain's valid seals; None when
    the log has no record of the chain at all), if so."""
    chain = anchor.chain
    if anchor.seal is not None:
        why = keyring.judge(anchor.seal)
        if why is not None:
            return Problem(None, chain, f"{anchor.source}: its seal is refused: {why}")
    names = f"{anchor.source} names sequence {anchor.sequence} (head {anchor.head_hash[:12]}...)"
    if valid is None:
        return Problem(None, chain, f"truncated: no record of this chain is left, but {names}")
    if not valid:
        return Problem(None, chain, f"not held: no seal of this chain is valid, but {names}")
    same = [e for e in valid if _seal(e).sequence == anchor.sequence]
    if any(_seal(e).head_hash == anchor.head_hash for e in same):
        return None
    if same:
        other = _seal(same[0]).head_hash
        what = f"rewritten: the log's seal of sequence {anchor.sequence} has head {other[:12]}..."
        return Problem(same[0].position, chain, f"{what}, but {names}")
    last = max(valid, key=_sequence)
    if _seal(last).sequence < anchor.sequence:
        what = f"the log's last valid seal of this chain is at sequence {_seal(last).sequence}"
        return Problem(last.position, chain, f"truncated: {what}, but {names}")
    return Problem(None, chain, f"the seal is missing: {names}")
