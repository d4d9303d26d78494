"""The audit tool on a real decision log: verify passes on an honest log, with the keys the
reviewer pinned, and names the offset of a forged, altered or missing record or a seal by a
key not pinned; query, export and report answer reviewers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from cryptography.hazmat.primitives import serialization

from cli import main
from consumers.audit.log import read_decision_log
from intelbus import chain, clients, keydir, serde
from intelbus.models import ChainSeal, Decision, PolicyDecision
from tests.audit_log import new_signer, pin_router_key, route_examples, signed_seal
from tests.conftest import Bus


@pytest.fixture
def routed(cli_env: Bus) -> Bus:
    route_examples(cli_env.settings)
    return cli_env


@pytest.fixture
def trusted(routed: Bus, tmp_path: Path) -> Path:
    return pin_router_key(routed.settings.keys_dir, tmp_path / "trusted-keys")


def _produce(bus: Bus, record: PolicyDecision | ChainSeal, key: str) -> int:
    topic = bus.topics.decisions
    writer = serde.RecordSerializer(
        serde.registry_client(bus.settings), type(record), bus.settings.schemas_dir
    )
    offsets: list[int] = []
    producer = clients.producer(bus.settings, "forger")
    producer.produce(
        topic,
        writer.serialize(record, topic),
        key.encode(),
        on_delivery=lambda err, msg: offsets.append(msg.offset() or 0),
    )
    assert producer.flush(30) == 0
    return offsets[0]


def _head(bus: Bus) -> PolicyDecision:
    """The last decision of the longest chain."""
    decisions = [
        e.decision for e in read_decision_log(bus.settings, bus.topics.decisions) if e.decision
    ]
    return max(decisions, key=lambda d: d.sequence)


def _verify(capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str]:
    code = main(["audit", "verify", *options])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_verify_passes_on_an_honest_log(
    routed: Bus, trusted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every link verified, by the pinned key, and every chain head the router committed
    is in the log."""
    code, output = _verify(capsys, "--trusted-keys", str(trusted))
    assert code == 0, output
    assert "OK: 25 decisions in" in output
    [key_id] = keydir.load_public_keys(routed.settings.keys_dir)
    assert f"signed by trusted key(s) {key_id} (0 key rotation(s) followed)" in output
    assert "not cut short: the log holds all " in output


def test_verify_without_pinned_keys_refuses(
    routed: Bus, capsys: pytest.CaptureFixture[str]
) -> None:
    """No trusted keys given: verify does not fall back to the router's own key directory
    (whoever can write there could sign a forged log); it refuses, saying what to pass."""
    code, output = _verify(capsys)
    assert code == 1
    assert "audit verify needs the keys you trust to sign the log: --trusted-keys FILE" in output
    assert "intelbus router public-key" in output
    assert "OK" not in output


def test_bad_trusted_keys_file_is_named_by_line(
    routed: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "trusted-keys"
    path.write_text("# pinned\n\nssh-rsa AAAA me@host\n")
    code, output = _verify(capsys, "--trusted-keys", str(path))
    assert code == 1
    assert f"{path}:3: key type 'ssh-rsa' is not ed25519 (expected 'ed25519 <base64" in output


def test_forged_decision_fails_verify_naming_its_offset(
    routed: Bus, trusted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forger who can write to the topic appends a well-formed, correctly hashed record
    that links to the chain's head: no signed seal vouches for it."""
    head = _head(routed)
    forged = head.to_avro() | {
        "decisionId": f"{head.chain}#{head.sequence + 1}",
        "recipient": "ibet-blaine",
        "decision": "DELIVER",
        "sequence": head.sequence + 1,
        "previousHash": head.hash,
    }
    forged["hash"] = chain.decision_hash(forged)
    offset = _produce(routed, PolicyDecision.model_validate(forged), head.chain)
    code, output = _verify(capsys, "--trusted-keys", str(trusted))
    assert code == 1
    assert f"{routed.topics.decisions} partition" in output
    assert f"offset {offset}: chain {head.chain}: forged or unsealed record" in output


def test_altered_record_and_foreign_seal_are_named(
    routed: Bus, trusted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = _head(routed)
    altered = head.model_copy(update={"decision": Decision.DELIVER, "sequence": head.sequence + 1})
    altered_offset = _produce(routed, altered, head.chain)
    impostor = new_signer()
    seal = signed_seal(impostor, head.chain, head.sequence, head.hash, chain.GENESIS)
    seal_offset = _produce(routed, seal, head.chain)
    code, output = _verify(capsys, "--trusted-keys", str(trusted))
    assert code == 1
    assert f"offset {altered_offset}: chain {head.chain}: altered record" in output
    assert f"offset {seal_offset}: chain {head.chain}: seal signed by untrusted key" in output


def test_missing_record_fails_verify_naming_where(
    routed: Bus, trusted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records deleted from the start of a partition (DeleteRecords) leave a gap."""
    entries = list(read_decision_log(routed.settings, routed.topics.decisions))
    first = min(
        (e for e in entries if e.decision and e.decision.sequence == 2), key=lambda e: e.position
    )
    admin = clients.admin(routed.settings)
    at = first.position
    tp = TopicPartition(routed.topics.decisions, at.partition, at.offset)
    admin.delete_records([tp])[tp].result(timeout=30)
    code, output = _verify(capsys, "--trusted-keys", str(trusted))
    assert code == 1
    assert (
        f"partition {at.partition} offset {at.offset}: chain {first.decision.chain}: "  # type: ignore[union-attr]
        "gap: record 1" in output
    )


def test_query_export_and_report(routed: Bus, capsys: pytest.CaptureFixture[str]) -> None:
    """Who received the EU PNR event, under which rule, and what was removed."""
    assert main(["audit", "query", "--event", "cbp-ntc-2026-0417-1", "--delivered", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["recipient"], r["decision"], tuple(r["removedFields"])) for r in rows} == {
        ("cbp", "deliver-redacted", ("pnr.sensitive",)),
        ("ice", "deliver-redacted", ("pnr",)),
        ("jttf-miami", "deliver-redacted", ("pnr",)),
    }
    assert main(["audit", "query", "--recipient", "ice", "--eu-pnr"]) == 0
    out = capsys.readouterr().out
    assert "cbp-ntc-2026-0417-1" in out
    assert "1 decision(s)" in out

    assert main(["audit", "export", "--format", "csv", "--rule", "third-agency"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("decidedAt,eventId,")
    assert len(lines) == 2
    assert ",best-laredo,pointer,third-agency;most-restrictive," in lines[1]

    assert main(["audit", "report"]) == 0
    report = capsys.readouterr().out
    assert "ibet-blaine  deny              noforn" in report
    assert "25 decision(s)" in report


def test_key_planted_in_the_routers_key_directory_is_not_trusted(
    routed: Bus, trusted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone who can write the decisions topic and the router's key directory forges a
    decision and seals it with a key of their own, whose public key they leave beside the
    router's: verify trusts only the keys a reviewer pinned, so that seal is named as signed
    by an untrusted key, where it sits."""
    head = _head(routed)
    forged = head.to_avro() | {
        "decisionId": f"{head.chain}#{head.sequence + 1}",
        "recipient": "ibet-blaine",
        "decision": "DELIVER",
        "sequence": head.sequence + 1,
        "previousHash": head.hash,
    }
    forged["hash"] = chain.decision_hash(forged)
    _produce(routed, PolicyDecision.model_validate(forged), head.chain)
    impostor = new_signer()
    seal = signed_seal(impostor, head.chain, head.sequence + 1, forged["hash"], head.hash)
    seal_offset = _produce(routed, seal, head.chain)
    planted = routed.settings.keys_dir / f"{impostor.key_id}.pub"
    planted.write_bytes(
        impostor.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    try:
        code, output = _verify(capsys, "--trusted-keys", str(trusted))
    finally:
        planted.unlink()
    assert code == 1, output
    assert (
        f"offset {seal_offset}: chain {head.chain}: seal signed by untrusted key "
        f"{impostor.key_id}" in output
    )
