"""YAML files load into models; every error names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from intelbus.policy.recipients import RecipientsFile
from intelbus.yamlfile import YamlError, load_yaml_model

VALID_MEMBER = "{agency: CBP, department: DHS, law_enforcement: true, country: US}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipients.yaml"
    path.write_text(text)
    return path


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""recipients:
  - id: cbp
    name: CBP
    point_of_contact: x
    members:
      - {VALID_MEMBER}
      - {{agency: RCMP, department: PS Canada, law_enforcement: true, country: ZZ}}
    subscriptions: {{categories: [NARCOTICS], areas: ["*"]}}
""",
    )
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, RecipientsFile)
    assert str(caught.value) == (
        f"{path}:7: recipients.0.members.1.country: "
        "Value error, 'ZZ' is not an ISO 3166-1 alpha-2 country code"
    )


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""recipients:
  - id: Bad Id
    name: x
    point_of_contact: x
    members: [{VALID_MEMBER}]
    subscriptions: {{categories: [PARKING_TICKETS], areas: ["*"]}}
    colour: blue
""",
    )
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, RecipientsFile)
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{path}:2: recipients.0.id: Value error, a recipient id is")
    assert lines[1].startswith(
        f"{path}:6: recipients.0.subscriptions.categories.0: Input should be"
    )
    assert lines[2] == f"{path}:7: recipients.0.colour: Extra inputs are not permitted"


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "recipients:\n  - id: cbp\n   name: [unclosed\n")
    with pytest.raises(YamlError, match=rf"^{path}:3: not valid YAML"):
        load_yaml_model(path, RecipientsFile)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(YamlError, match="cannot read"):
        load_yaml_model(tmp_path / "absent.yaml", RecipientsFile)


def test_duplicate_recipient_ids_are_refused(tmp_path: Path) -> None:
    one = f"""  - id: cbp
    name: CBP
    point_of_contact: x
    members: [{VALID_MEMBER}]
    subscriptions: {{categories: [NARCOTICS], areas: ["*"]}}
"""
    path = _write(tmp_path, "recipients:\n" + one + one)
    with pytest.raises(YamlError, match="repeated: cbp"):
        load_yaml_model(path, RecipientsFile)
