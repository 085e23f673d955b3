"""Sampled dataset checks (pre-flight, ``data add``): first and last records and windows between,
on JSON arrays (compact and pretty-printed, nested message objects) and JSON Lines."""

from __future__ import annotations

import json

import pytest

from medtui.core.data import sample as sampling
from medtui.core.data.files import DataFileError
from medtui.core.data.shape import entry_problems, format_mismatch, ranking_mismatch, record_type_problems
from medtui.core.data.validation import validate_sample

ALPACA = {"file_name": "x.json", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
SHAREGPT = {"file_name": "x.json", "formatting": "sharegpt", "columns": {"messages": "conversations"}}


def alpaca(n: int) -> list[dict]:
    return [{"instruction": f"问题 {i} " + "x" * (i % 50), "input": "", "output": f"回答 {i}"} for i in range(n)]


def sharegpt(n: int) -> list[dict]:
    return [{"conversations": [{"from": "human", "value": f"问 {i}"}, {"from": "gpt", "value": f"答 {i}"}],
             "system": "s"} for i in range(n)]


def write(path, records, *, lines=False, indent=None):
    if lines:
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    else:
        path.write_text(json.dumps(records, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


def sampled(path, **kw):
    return sampling.read_sample(path, full_bytes=0, **kw)


def test_a_small_file_is_read_whole_with_record_numbers(tmp_path):
    got = sampling.read_sample(write(tmp_path / "a.json", alpaca(30)))
    assert got.complete and [w for w, _ in got.records] == list(range(30))


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("lines", [False, True])
def test_large_files_are_sampled_first_last_and_between(tmp_path, lines, indent):
    records = alpaca(20000)
    path = write(tmp_path / ("a.jsonl" if lines else "a.json"), records, lines=lines, indent=indent)
    got = sampled(path)
    assert not got.complete and 40 < len(got.records) < 120
    values = [r for _, r in got.records]
    assert values[: sampling.FIRST] == records[: sampling.FIRST]
    assert values[-sampling.LAST:] == records[-sampling.LAST:]
    assert all(r in records for r in values)  # every sampled object is a real record, never a fragment
    middle = {records.index(r) for r in values[sampling.FIRST:-sampling.LAST]}
    assert min(middle) < 2000 and max(middle) > 18000 and len(middle) > 30


def test_nested_message_objects_are_not_taken_for_records(tmp_path):
    records = sharegpt(15000)
    for indent in (None, 2):
        got = sampled(write(tmp_path / "s.json", records, indent=indent))
        assert len(got.records) > 40 and all("conversations" in r for _, r in got.records)


def test_a_truncated_array_is_reported(tmp_path):
    path = write(tmp_path / "a.json", alpaca(20000))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataFileError, match="not closed"):
        sampled(path)


def test_a_truncated_jsonl_line_is_reported(tmp_path):
    path = write(tmp_path / "a.jsonl", alpaca(20000), lines=True)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataFileError, match="invalid JSON"):
        sampled(path)


@pytest.mark.parametrize("lines", [False, True])
def test_bad_utf8_in_a_sampled_window(tmp_path, lines):
    path = write(tmp_path / ("a.jsonl" if lines else "a.json"), alpaca(20000), lines=lines)
    raw = path.read_bytes()
    at = raw.index("问题".encode(), 3 * len(raw) // (sampling.BETWEEN + 1) + 100)
    path.write_bytes(raw[:at] + "问题".encode("gbk") + raw[at + 6:])
    with pytest.raises(DataFileError, match="not UTF-8"):
        sampled(path)


def test_a_wrong_type_in_the_last_records_fails_validation(tmp_path):
    records = alpaca(20000)
    records[-2]["output"] = ["a", "list"]
    report, _ = validate_sample(write(tmp_path / "a.json", records), ALPACA, "sft", sample_reader=sampled)
    bad = [f for f in report.findings if f.kind == "type"]
    assert not report.ok and bad and "'output' (response) must be a string, found an array" in bad[0].message
    assert "in a sample of" in bad[0].message and "byte" in str(bad[0].first[0])


def test_a_folder_of_files(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        write(folder / f"p{i}.jsonl", alpaca(4000)[i * 10:], lines=True)
    got = sampled(folder)
    assert len(got.records) > 20
    (folder / "p1.jsonl").write_bytes(b"\xef\xbb\xbf" + (folder / "p1.jsonl").read_bytes())
    assert sampling.bom_files(folder) == [folder / "p1.jsonl"]


def test_field_types_per_role():
    assert record_type_problems(ALPACA, {"instruction": "q", "input": 3, "output": "a"}) == [
        "'input' (query) must be a string, found a number"]
    assert record_type_problems(ALPACA, {"instruction": "q", "output": None}) == []
    sg = record_type_problems(SHAREGPT, {"conversations": [{"from": "human", "value": {"t": 1}}]})
    assert sg and "must be strings" in sg[0]
    pref = {**SHAREGPT, "ranking": True, "columns": {"messages": "conversations", "chosen": "c", "rejected": "r"}}
    assert "'c' (chosen) must be a message object" in record_type_problems(pref, {"conversations": [], "c": "x",
                                                                                 "r": {"from": "gpt", "value": "y"}})[0]


def test_entry_shapes():
    assert entry_problems({"file_name": "x", "columns": ["a"]})[0][1].startswith("columns must be an object")
    assert entry_problems({"file_name": "x", "tags": "from"})[0][1].startswith("tags must be an object")
    assert entry_problems({"file_name": "x", "ranking": "yes"})[0][1].startswith("ranking must be true or false")
    assert "KeyError: None" in entry_problems({"file_name": "x", "ranking": True})[0][1]
    assert entry_problems({"file_name": "x", "formatting": "chatml"})[0][1].startswith("formatting must be one of")
    assert entry_problems({"file_name": "x", "columns": {"instruction": "prompt"}})[0][0] == "warn"
    assert entry_problems(ALPACA) == []


def test_formatting_and_ranking_must_match_the_records():
    assert "look like alpaca" in format_mismatch(SHAREGPT, alpaca(3))
    assert "--formatting sharegpt" in format_mismatch(ALPACA, [{"conversations": [{"from": "human", "value": "q"}]}])
    assert format_mismatch(SHAREGPT, sharegpt(3)) is None
    pairs = {**ALPACA, "ranking": True, "columns": {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}}
    assert "no record holds the pair" in ranking_mismatch(pairs, alpaca(3))
    assert ranking_mismatch(pairs, [{"instruction": "q", "chosen": "a", "rejected": "b"}]) is None
