"""YAML files load into models; every error names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from intelbus.policy.agencies import AgenciesFile, load_agencies
from intelbus.policy.recipients import RecipientsFile
from intelbus.settings import Settings
from intelbus.yamlfile import YamlError, load_yaml_model

VALID_MEMBER = "CBP"
AGENCIES = {"agencies": load_agencies(Settings().policies_dir)}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipients.yaml"
    path.write_text(text)
    return path


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """agencies:
  - {id: CBP, name: CBP, department: DHS, country: US, law_enforcement: true}
  - {id: RCMP, name: RCMP, department: PS Canada, country: ZZ, law_enforcement: true}
""",
    )
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, AgenciesFile)
    assert str(caught.value) == (
        f"{path}:3: agencies.1.country: Value error, 'ZZ' is not an ISO 3166-1 alpha-2 country code"
    )


def test_a_member_is_an_agency_of_the_agencies_file(tmp_path: Path) -> None:
    """The attack that worked: an originator's department was free text. Members (and
    originators) are agency ids now, resolved from agencies.yaml."""
    path = _write(
        tmp_path,
        f"""recipients:
  - id: cbp
    name: CBP
    point_of_contact: x
    members:
      - {VALID_MEMBER}
      - {{agency: RCMP, department: DHS, law_enforcement: true, country: US}}
      - Department of Homeland Security
    subscriptions: {{categories: [NARCOTICS], areas: ["*"]}}
""",
    )
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, RecipientsFile, AGENCIES)
    lines = str(caught.value).splitlines()
    assert lines[0] == (
        f"{path}:7: recipients.0.members.1: "
        "Value error, expected an agency id of agencies.yaml, e.g. CBP"
    )
    assert lines[1].startswith(
        f"{path}:8: recipients.0.members.2: "
        "Value error, unknown agency 'Department of Homeland Security'; agencies.yaml has ["
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
        load_yaml_model(path, RecipientsFile, AGENCIES)
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
        load_yaml_model(path, RecipientsFile, AGENCIES)


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
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, RecipientsFile, AGENCIES)
    # The error points at the second entry's id (line 7), not at `recipients:`.
    assert str(caught.value) == (
        f"{path}:7: recipients.1.id: 'cbp' is repeated (first defined by recipients.0)"
    )


def test_duplicate_key_names_file_line_and_key(tmp_path: Path) -> None:
    """A repeated key is an error naming its line, never silently merged (the later value
    used to win: a second `markings:` could drop NOFORN unnoticed)."""
    path = _write(
        tmp_path,
        f"""recipients:
  - id: cbp
    name: CBP
    point_of_contact: x
    members: [{VALID_MEMBER}]
    subscriptions: {{categories: [NARCOTICS], areas: ["*"]}}
    name: Somebody else
""",
    )
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, RecipientsFile, AGENCIES)
    assert str(caught.value) == (
        f"{path}:7: not valid YAML: duplicate key 'name' (first on line 3)"
    )


def test_duplicate_key_in_a_flow_mapping_is_an_error(tmp_path: Path) -> None:
    """Flow style (`{a: 1, a: 2}`) is checked too."""
    member = "{agency: CBP, department: DHS, law_enforcement: true, country: US, country: CA}"
    path = _write(tmp_path, f"recipients:\n  - members: [{member}]\n")
    with pytest.raises(YamlError, match=rf"^{path}:2: not valid YAML: duplicate key 'country'"):
        load_yaml_model(path, RecipientsFile, AGENCIES)


@pytest.mark.parametrize("text", ["", "\n", "# nothing but a comment\n", "---\n"])
def test_empty_file_names_the_file_and_says_it_is_empty(tmp_path: Path, text: str) -> None:
    """An empty file is named, with a line, and said to be empty (it used to print
    `recipients.yaml:None:`)."""
    path = _write(tmp_path, text)
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, RecipientsFile, AGENCIES)
    assert str(caught.value) == (
        f"{path}:1: (top level): the file is empty; expected a mapping with: recipients"
    )


def test_non_mapping_file_says_what_it_found(tmp_path: Path) -> None:
    """A file that is a list (or a scalar) is named and said not to be a mapping."""
    path = _write(tmp_path, "# recipients\n- id: cbp\n")
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, RecipientsFile, AGENCIES)
    assert str(caught.value) == (
        f"{path}:2: (top level): expected a mapping with: recipients; found a sequence"
    )


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a clean error naming the line and byte, no traceback."""
    path = tmp_path / "recipients.yaml"
    path.write_bytes(b"recipients:\n  - id: c\xffbp\n")
    with pytest.raises(YamlError) as caught:
        load_yaml_model(path, RecipientsFile, AGENCIES)
    assert str(caught.value) == f"{path}:2: not valid UTF-8 (byte 10 of the line)"


def test_deep_nesting_is_a_clean_error(tmp_path: Path) -> None:
    """Nesting deeper than the parser's recursion allows is reported, not a traceback."""
    path = _write(tmp_path, "recipients: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(YamlError, match=rf"^{path}: not valid YAML: nested too deeply"):
        load_yaml_model(path, RecipientsFile, AGENCIES)
