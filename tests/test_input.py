"""Publish input (JSON, JSON array, NDJSON) never surprises: every problem is a clean message
naming the record, and nothing is published unless every record is valid. No broker needed:
`intelbus publish` validates everything before it connects to anything."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from cli import main
from intelbus.canonical import MAX_ITEMS
from intelbus.models import Lookout, OfficerSafetyAlert, Record
from intelbus.settings import Settings
from producers.input import MAX_DEPTH, MAX_INPUT_BYTES, InputError, parse_records
from tests import factories

EXAMPLES = Path(__file__).parent.parent / "examples"
SETTINGS = Settings()


def _lookout(**overrides: Any) -> dict[str, Any]:
    """A valid lookout as JSON input (wire names), with fields replaced."""
    fields: dict[str, Any] = json.loads(factories.lookout().model_dump_json(by_alias=True))
    return fields | overrides


def _line(**overrides: Any) -> str:
    return json.dumps(_lookout(**overrides))


def _publish(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str], kind: str = "lookout"
) -> tuple[int, str]:
    """Run `intelbus publish KIND FILE` on ``content``; return the exit code and stderr."""
    path = tmp_path / "input.ndjson"
    path.write_bytes(content)
    code = main(["publish", kind, str(path)])
    return code, capsys.readouterr().err


def _parse(
    content: bytes, model: type[Record] = Lookout, settings: Settings = SETTINGS
) -> tuple[int, list[str], list[Record]]:
    """parse_records over ``content``: (records read, problems as text, valid records)."""
    valid: list[Record] = []
    count, problems = parse_records(io.BytesIO(content), model, valid.append, settings)
    return count, [str(problem) for problem in problems], valid


def test_duplicate_key_in_an_ndjson_line_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack that worked: a second `handling` key silently replaced the first and so
    dropped ORCON. A repeated key is an error naming the line and the key."""
    orcon = _line(handling={"markings": ["ORCON"]})
    twice = orcon[:-1] + ', "handling": {"markings": []}}'
    code, err = _publish(tmp_path, f"{_line()}\n{twice}\n".encode(), capsys)
    assert code == 1
    assert "line 2: (json): duplicate key 'handling'" in err
    assert "1 of 2 records invalid; nothing was published" in err


def test_duplicate_key_in_an_array_item_names_the_item() -> None:
    """In a JSON array the problem names the item, also for a key repeated deep inside it."""
    one = json.dumps(_lookout(handling={"markings": ["LES"]}))
    twice = one.replace('"markings": ["LES"]', '"markings": ["ORCON"], "markings": []')
    text = f"[{one},\n{twice}]"
    count, problems, valid = _parse(text.encode())
    assert count == 2
    assert problems == ["item 2: (json): duplicate key 'markings'"]
    assert len(valid) == 1


def test_every_bad_ndjson_line_is_reported_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad first line used to turn the file into one unreadable "record" ("1 of 1
    records" for three lines); every bad line is reported, and the count is right."""
    content = f'{{"eventId": "bad-1", oops\n{_line()}\n\n{{"eventId": "bad-3",\n'
    code, err = _publish(tmp_path, content.encode(), capsys)
    assert code == 1
    assert "input.ndjson: line 1: (json): Expecting property name" in err
    assert "input.ndjson: line 4: (json): Expecting property name" in err
    assert "2 of 3 records invalid; nothing was published" in err


def test_record_over_the_event_limit_is_refused_naming_its_size() -> None:
    """A record the router would refuse (its Avro encoding, with the 5-byte header, is over
    max_event_bytes) is refused at validation, naming the record and the size."""
    small = SETTINGS.model_copy(update={"max_event_bytes": 4096})
    content = f"{_line()}\n{_line(narrative='x' * 5000)}\n".encode()
    count, problems, valid = _parse(content, settings=small)
    assert count == 2
    assert len(valid) == 1
    [problem] = problems
    assert problem.startswith("line 2: (size): the record encodes to 5,")
    assert problem.endswith("bytes of Avro; the router refuses events over 4,096 bytes")


def test_more_array_items_than_the_router_takes_is_refused() -> None:
    """The router refuses a message with more than MAX_ITEMS array items unread; publish
    input refuses it first, naming the record."""
    areas = [f"A{index}" for index in range(MAX_ITEMS + 1)]
    count, problems, valid = _parse(f"{_line(areas=areas)}\n".encode())
    assert (count, valid) == (1, [])
    assert problems == [f"line 1: (too-many-items): more than {MAX_ITEMS:,} array items"]


def test_huge_line_is_refused_before_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 10 MB string used to pass validation; a line far over the event limit is refused
    unread (before json.loads), and the other lines are still checked."""
    huge = _line(narrative="x" * 10_000_000)
    code, err = _publish(tmp_path, f"{_line()}\n{huge}\n".encode(), capsys)
    assert code == 1
    assert f"line 2: (size): the line is {len(huge):,} bytes; a record's line may have" in err
    assert "1 of 2 records invalid; nothing was published" in err


def test_json_document_over_the_limit_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON array or object (parsed at once) over MAX_INPUT_BYTES is refused as a whole,
    before any of it is parsed."""
    content = b"[" + b" " * MAX_INPUT_BYTES + b"]"
    with pytest.raises(InputError, match=f"larger than {MAX_INPUT_BYTES:,} bytes"):
        _parse(content)
    code, err = _publish(tmp_path, content, capsys)
    assert code == 1
    assert f"input.ndjson: a JSON document larger than {MAX_INPUT_BYTES:,} bytes" in err


def test_ndjson_is_bounded_per_line_not_per_file() -> None:
    """NDJSON is read line by line: a bulk file larger than MAX_INPUT_BYTES is fine, each
    line is bounded; a one-line array longer than a line may be is still one document."""
    line = _line().encode() + b"\n"
    count, problems, _ = _parse(line * (MAX_INPUT_BYTES // len(line) + 1))
    assert problems == []
    assert count > MAX_INPUT_BYTES // len(line)
    small = SETTINGS.model_copy(update={"max_event_bytes": 4096})
    array = "[" + ", ".join(_line() for _ in range(30)) + "]"
    assert len(array) > 4 * 4096
    assert _parse(array.encode(), settings=small)[:2] == (30, [])


def test_invalid_utf8_names_the_line_and_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes that are not UTF-8 used to end in a traceback; now the line and the byte."""
    bad = b'{"eventId": "caf\xe9"}'
    code, err = _publish(tmp_path, f"{_line()}\n".encode() + bad + b"\n", capsys)
    assert code == 1
    assert "line 2: (encoding): not valid UTF-8 (byte 17 of the line)" in err
    assert "1 of 2 records invalid; nothing was published" in err


def test_invalid_utf8_in_a_json_document_names_the_line() -> None:
    """In a pretty-printed object too, the line is the one holding the bad byte."""
    content = b'{\n  "eventId": "x",\n  "narrative": "\xff"\n}\n'
    count, problems, _ = _parse(content)
    assert (count, problems) == (1, ["line 3: (encoding): not valid UTF-8 (byte 17 of the line)"])


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], depth: int
) -> None:
    """Nesting beyond MAX_DEPTH is refused, whether json itself would recurse too deep
    (a traceback before) or not."""
    deep = '{"eventId": ' + "[" * depth + "]" * depth + "}"
    code, err = _publish(tmp_path, f"{_line()}\n{deep}\n".encode(), capsys)
    assert code == 1
    assert f"line 2: (json): nested more than {MAX_DEPTH} levels deep" in err
    assert "1 of 2 records invalid; nothing was published" in err


def test_nan_latitude_is_not_a_number() -> None:
    """JSON's NaN in a coordinate is refused as not a number (it said "<= 90")."""
    alert: dict[str, Any] = json.loads(factories.alert().model_dump_json(by_alias=True))
    text = json.dumps(alert).replace('"latitude": 27.6', '"latitude": NaN')
    count, problems, _ = _parse(text.encode(), OfficerSafetyAlert)
    assert (count, problems) == (1, ["line 1: location.latitude: Input should be a finite number"])


def test_version_beyond_avro_int_is_refused() -> None:
    """A version Avro's 32-bit int cannot hold is refused, naming the field."""
    count, problems, _ = _parse(_line(version=2**31).encode())
    assert (count, problems) == (
        1,
        ["line 1: version: Input should be less than or equal to 2147483647"],
    )


def test_unreadable_file_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file is an error message, not a traceback."""
    assert main(["publish", "lookout", str(tmp_path / "absent.ndjson")]) == 1
    assert "absent.ndjson: cannot read: No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "folder"), [(Lookout, "lookouts"), (OfficerSafetyAlert, "alerts")]
)
def test_the_examples_are_valid_input(model: type[Record], folder: str) -> None:
    """Pretty-printed single objects, as in examples/, still read as one record each."""
    for path in sorted((EXAMPLES / folder).glob("*.json")):
        count, problems, valid = _parse(path.read_bytes(), model)
        assert (count, problems, len(valid)) == (1, [], 1), path


def test_array_and_ndjson_read_every_record() -> None:
    """A JSON array and NDJSON give the same records."""
    lines = [_line() for _ in range(3)]
    _, array_problems, from_array = _parse(("[\n" + ",\n".join(lines) + "\n]\n").encode())
    _, ndjson_problems, from_ndjson = _parse("\n".join(lines).encode())
    assert array_problems == ndjson_problems == []
    assert from_array == from_ndjson
    assert len(from_array) == 3
