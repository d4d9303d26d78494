"""The reviewers' policy commands, and the router's refusal of an invalid policy set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli import main
from intelbus.policy.policyset import RULE_IDS
from intelbus.secrets import SecretStore
from intelbus.settings import Settings
from intelbus.yamlfile import YamlError
from services.examples import EXAMPLES_DIR
from services.router.service import Router


def test_check_accepts_the_policy_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check"]) == 0
    out = capsys.readouterr().out
    assert "is valid; version sha256:" in out
    assert all(rule_id in out for rule_id in RULE_IDS)


def test_explain_json_is_exactly_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    event = EXAMPLES_DIR / "lookouts" / "eu-pnr-ntc.json"
    assert (
        main(
            [
                "policy",
                "explain",
                "--event",
                str(event),
                "--recipient",
                "ice",
                "--at",
                "2026-11-23T12:00:00Z",
                "--json",
            ]
        )
        == 0
    )
    [line] = capsys.readouterr().out.splitlines()
    explained = json.loads(line)
    assert set(explained) == {
        "decision",
        "rules",
        "removed_fields",
        "authorization_ids",
        "notifications",
        "reason",
        "policy_version",
        "view",
    }
    assert explained["decision"] == "deliver-redacted"
    assert explained["rules"] == ["dhs-need-to-know", "eu-pnr-third-party"]
    assert explained["removed_fields"] == ["pnr"]
    assert explained["view"]["pnr"] is None
    assert explained["view"]["eventId"] == "cbp-ntc-2026-0417-1"


def _explain_with_authorization(
    path: Path,
    approved_by: str | None,
    capsys: pytest.CaptureFixture[str],
    *options: str,
) -> tuple[int, str]:
    approver = ["--approved-by", approved_by] if approved_by else []
    code = main(
        [
            "policy",
            "explain",
            "--event",
            str(EXAMPLES_DIR / "lookouts" / "eu-pnr-ntc-update.json"),
            "--recipient",
            "ice",
            "--authorizations",
            str(path),
            *approver,
            "--at",
            "2026-11-23T12:00:00Z",
            *options,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out + captured.err


AUTHORIZATION = EXAMPLES_DIR / "authorizations" / "cbp-grants-ice-pnr-disclosure.json"


def test_explain_with_authorizations(capsys: pytest.CaptureFixture[str]) -> None:
    """An authorization CBP issued releases the EU PNR to ICE, and is named."""
    code, out = _explain_with_authorization(AUTHORIZATION, "CBP", capsys)
    assert code == 0
    assert "ice would get cbp-ntc-2026-0417-2: deliver" in out
    assert "authorizations: cbp-tpr-2026-0031" in out


def test_explain_json_names_the_authorizations_relied_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _explain_with_authorization(AUTHORIZATION, "CBP", capsys, "--json")
    assert code == 0
    explained = json.loads(out)
    assert explained["decision"] == "deliver"
    assert explained["authorization_ids"] == ["cbp-tpr-2026-0031"]


def test_authorization_counts_only_as_its_publishers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack that worked: an authorization whose free-text approving office merely
    starts with "CBP", issued by somebody else, released EU PNR to ICE. The approver is who
    published it: the same authorization from ICE releases nothing."""
    forged = json.loads(AUTHORIZATION.read_text()) | {"approvingOffice": "CBPX Anybody at all"}
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    code, out = _explain_with_authorization(path, "ICE", capsys)
    assert code == 0
    assert "ice would get cbp-ntc-2026-0417-2: deliver-redacted" in out
    assert "cbp-tpr-2026-0031" not in out


def test_authorizations_without_their_approver_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _explain_with_authorization(AUTHORIZATION, None, capsys)
    assert code == 1
    assert "--approved-by" in out


def _broken_policies(tmp_path: Path) -> Path:
    broken = tmp_path / "policies"
    shutil.copytree(Settings().policies_dir, broken)
    rules = broken / "rules.yaml"
    rules.write_text(rules.read_text().replace("after_days: 183", "after_days: soon"))
    return broken


def test_invalid_policy_names_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _broken_policies(tmp_path)
    monkeypatch.setenv("INTELBUS_POLICIES_DIR", str(broken))
    assert main(["policy", "check"]) == 1
    err = capsys.readouterr().err
    line = next(
        n
        for n, text in enumerate((broken / "rules.yaml").read_text().splitlines(), 1)
        if "soon" in text
    )
    assert f"{broken / 'rules.yaml'}:{line}: rules.6.eu-pnr-depersonalize.after_days:" in err


def test_router_refuses_to_start_on_an_invalid_policy_set(tmp_path: Path) -> None:
    settings = Settings(policies_dir_override=_broken_policies(tmp_path))
    with pytest.raises(YamlError, match="after_days"):
        Router(settings)


def test_missing_rule_fails_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "policies"
    shutil.copytree(Settings().policies_dir, broken)
    rules = broken / "rules.yaml"
    rules.write_text(rules.read_text().replace("  - id: noforn\n", "  - id: noforn-typo\n"))
    monkeypatch.setenv("INTELBUS_POLICIES_DIR", str(broken))
    assert main(["policy", "check"]) == 1
    assert "noforn" in capsys.readouterr().err


def test_unreachable_registry_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    SecretStore(tmp_path / "secrets").create("operator")  # the operator has a credential
    monkeypatch.setenv("INTELBUS_HOME", str(tmp_path))
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://127.0.0.1:9/apis/ccompat/v7")
    assert main(["schemas", "register"]) == 1
    assert "cannot reach the schema registry at http://127.0.0.1:9" in capsys.readouterr().err


def _policies_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: str, old: str, new: str
) -> Path:
    """A copy of policies/ with ``old`` replaced by ``new`` in ``file``, in use by the CLI."""
    copy = tmp_path / "policies"
    shutil.copytree(Settings().policies_dir, copy)
    path = copy / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    monkeypatch.setenv("INTELBUS_POLICIES_DIR", str(copy))
    return path


def _line_of(path: Path, text: str, occurrence: int = 1) -> int:
    """The line number of the ``occurrence``-th line of ``path`` that is ``text``."""
    numbers = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line == text]
    return numbers[occurrence - 1]


def test_duplicate_key_in_rules_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack that worked: a second `markings:` under noforn silently replaced NOFORN,
    `policy check` passed and a NOFORN event reached a recipient with foreign members. A
    repeated key is an error naming the file, the line and the key."""
    rules = _policies_with(
        tmp_path,
        monkeypatch,
        "rules.yaml",
        "    markings: [NOFORN]\n",
        "    markings: [NOFORN]\n    markings: [FOUO]\n",
    )
    assert main(["policy", "check"]) == 1
    line = _line_of(rules, "    markings: [FOUO]")
    first = _line_of(rules, "    markings: [NOFORN]")
    assert (
        f"{rules}:{line}: not valid YAML: duplicate key 'markings' (first on line {first})"
        in capsys.readouterr().err
    )


def test_duplicate_rule_id_points_at_the_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule defined twice is reported at the second definition's line, not at `rules:`."""
    rules = _policies_with(
        tmp_path,
        monkeypatch,
        "rules.yaml",
        "  - id: most-restrictive\n",
        "  - id: noforn\n    description: again\n    source: x\n    markings: [LES]\n\n"
        "  - id: most-restrictive\n",
    )
    assert main(["policy", "check"]) == 1
    line = _line_of(rules, "  - id: noforn", occurrence=2)
    err = capsys.readouterr().err
    assert f"{rules}:{line}: rules.11.id: 'noforn' is repeated (first defined by rules.9)" in err


def test_empty_rules_file_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty rules.yaml is named and said to be empty (it printed `rules.yaml:None:`)."""
    rules = _policies_with(tmp_path, monkeypatch, "rules.yaml", "", "")
    rules.write_text("# every rule was here\n")
    assert main(["policy", "check"]) == 1
    assert (
        f"{rules}:1: (top level): the file is empty; expected a mapping with: rules"
        in capsys.readouterr().err
    )


def _explain_event(
    event: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    path = tmp_path / "event.json"
    path.write_bytes(event)
    code = main(["policy", "explain", "--event", str(path), "--recipient", "ice"])
    return code, capsys.readouterr().err


EVENT = EXAMPLES_DIR / "lookouts" / "eu-pnr-ntc.json"


def test_explain_refuses_an_event_with_a_duplicate_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second `handling` key would drop ORCON from what is explained: refused, named."""
    text = EVENT.read_bytes().rstrip().removesuffix(b"}") + b', "handling": {"markings": []}}'
    code, err = _explain_event(text, tmp_path, capsys)
    assert code == 1
    assert f"{tmp_path / 'event.json'}: item 1: (json): duplicate key 'handling'" in err


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (b'{"eventId": "caf\xe9"}', "line 1: (encoding): not valid UTF-8 (byte 17 of the line)"),
        (b"[" * 100_000 + b"]" * 100_000, "(json): nested more than 64 levels deep"),
        (2 * (json.dumps(json.loads(EVENT.read_text())) + "\n").encode(), "expected one event"),
    ],
)
def test_explain_reports_bad_event_input_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], event: bytes, message: str
) -> None:
    """Invalid UTF-8 and deep nesting used to end in a traceback; they are clean errors, and
    an event file holds one event."""
    code, err = _explain_event(event, tmp_path, capsys)
    assert code == 1
    assert "Traceback" not in err
    assert message in err


def test_explain_refuses_authorizations_with_a_duplicate_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--authorizations input is checked like publish input: a repeated key is refused."""
    text = json.dumps(json.loads(AUTHORIZATION.read_text()))
    path = tmp_path / "authorizations.ndjson"
    path.write_text(text[:-1] + ', "recipient": "jttf-miami"}\n')
    code, out = _explain_with_authorization(path, "CBP", capsys)
    assert code == 1
    assert f"{path}: line 1: (json): duplicate key 'recipient'" in out
