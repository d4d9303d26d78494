"""The reviewers' policy commands, and the router's refusal of an invalid policy set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli import main
from intelbus.policy.policyset import RULE_IDS
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
    assert set(explained) == {"decision", "rules", "removed_fields", "policy_version", "view"}
    assert explained["decision"] == "deliver-redacted"
    assert explained["rules"] == ["dhs-need-to-know", "eu-pnr-third-party"]
    assert explained["removed_fields"] == ["pnr"]
    assert explained["view"]["pnr"] is None
    assert explained["view"]["eventId"] == "cbp-ntc-2026-0417-1"


def _explain_with_authorization(
    path: Path, approved_by: str | None, capsys: pytest.CaptureFixture[str]
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
    assert f"{broken / 'rules.yaml'}:{line}: rules.5.eu-pnr-depersonalize.after_days:" in err


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
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://127.0.0.1:9/apis/ccompat/v7")
    assert main(["schemas", "register"]) == 1
    assert "cannot reach the schema registry at http://127.0.0.1:9" in capsys.readouterr().err
