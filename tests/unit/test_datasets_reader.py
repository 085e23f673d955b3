"""The streaming reader: paging against json.load, chunk boundaries, the index cache, bad input."""

from __future__ import annotations

import json
import random

import pytest

from medtui.core.data import reader as datafiles
from medtui.core.data import reader as reader_mod
from medtui.core.data import scan
from medtui.core.data.files import DataFileError
from medtui.core.data.reader import DatasetReader, RecordFile

TRICKY = ['引号 "quoted" 与反斜杠 \\ ', "tab\tnew\nline", "emoji 🙂 ünïcödé", "]}{[,", "\\u0041 literally", ""]


def make_records(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append({"instruction": f"问题 {i}: " + rng.choice(TRICKY) * rng.randint(0, 3),
                    "input": rng.choice(TRICKY),
                    "output": "回答" * rng.randint(0, 40) + f" #{i}",
                    "score": rng.choice([1, -2.5, 1e21, 0, True, None]),
                    "history": [[rng.choice(TRICKY), "ok"]] if i % 3 == 0 else []})
    return out


@pytest.fixture
def small_chunks(monkeypatch):
    """Tiny read chunks, so records straddle chunk boundaries everywhere."""
    monkeypatch.setattr(scan, "CHUNK", 61)
    monkeypatch.setattr(reader_mod, "STRIDE", 8)
    monkeypatch.setattr(reader_mod, "SLICE", 50)


@pytest.mark.parametrize("style", ["indent2", "compact", "jsonl", "bom-array", "bom-jsonl", "jsonl-in-json"])
def test_pages_match_json_load(tmp_path, small_chunks, style):
    records = make_records(400)
    if style in ("jsonl", "bom-jsonl", "jsonl-in-json"):
        text = "".join(json.dumps(r, ensure_ascii=False) + ("\n\n" if i % 50 == 0 else "\n")
                       for i, r in enumerate(records))
        suffix = ".json" if style == "jsonl-in-json" else ".jsonl"
    else:
        text = json.dumps(records, ensure_ascii=False, indent=2 if style != "compact" else None)
        suffix = ".json"
    if style.startswith("bom"):
        text = "\ufeff" + text
    path = tmp_path / f"data{suffix}"
    path.write_text(text, encoding="utf-8")
    reader = DatasetReader(path)
    for start in (0, 1, 7, 8, 9, 123, 250, 399):
        page = reader.page(start, 5)
        assert page == [(i, records[i]) for i in range(start, min(start + 5, 400))]
    assert reader.page(400, 5) == []
    assert reader.count() == 400
    assert list(reader.iter_records()) == records
    # going back to an earlier page uses the checkpoints already built
    assert reader.page(3, 2) == [(3, records[3]), (4, records[4])]


def test_folder_pages_across_files(tmp_path, small_chunks):
    records = make_records(90)
    folder = tmp_path / "set"
    folder.mkdir()
    for n, part in enumerate((records[:30], records[30:31], records[31:])):
        (folder / f"part{n}.json").write_text(json.dumps(part, ensure_ascii=False), encoding="utf-8")
    reader = DatasetReader(folder)
    assert reader.page(28, 5) == [(i, records[i]) for i in range(28, 33)]
    assert reader.page(85, 10) == [(i, records[i]) for i in range(85, 90)]
    assert reader.count() == 90
    assert datafiles.count_records(folder) == 90
    assert datafiles.head(folder, 2) == records[:2]


def test_index_cache_survives_a_new_reader_and_expires_on_change(tmp_path):
    records = [{"text": "样本" * 40 + str(i)} for i in range(6000)]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    assert path.stat().st_size > reader_mod.CACHE_MIN_BYTES
    cache = tmp_path / "cache"
    assert DatasetReader(path, cache).count() == 6000
    assert len(list(cache.iterdir())) == 1
    second = RecordFile(path, cache)
    assert second.read(5990, 2) == records[5990:5992]
    assert second.known_count() == 6000  # restored from the cache, not rescanned
    records.append({"text": "new"})
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    third = RecordFile(path, cache)
    assert third.count() == 6001
    assert third.read(6000, 3) == [{"text": "new"}]


BAD_INPUTS = {
    "invalid-json": ("data.json", b'[\n  {"a": 1},\n  {"a": 2,, "b": 3}\n]\n', "line 3, column 11: invalid JSON"),
    "jsonl-line-not-object": ("data.jsonl", b'{"a": 1}\n\n[1, 2]\n',
                              "line 3, column 1: expected a JSON object, found an array"),
    "non-utf8": ("data.json", '[{"a": "好"}, {"a": "'.encode() + b"\xff\xfe" + b'"}]', "line 1, column 21: not UTF-8"),
    "object-not-array": ("data.json", b'{\n  "data": [{"a": 1}]\n}\n', "expected a JSON array of records"),
    "empty": ("data.json", b"", "the file is empty"),
    "whitespace-only": ("data.jsonl", b"  \n\n", "the file is empty"),
    "unclosed-array": ("data.json", b'[{"a": 1},\n {"a": 2}\n', "line 3, column 1: the JSON array is not closed"),
    "trailing-garbage": ("data.json", b'[{"a": 1}]\nxyz', "line 2, column 1: invalid JSON: extra data"),
    "record-not-object": ("data.json", b'[{"a": 1},\n "text"]', "line 2, column 2: record 1: expected a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_file_line_and_column(tmp_path, case):
    name, raw, expected = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(raw)
    for read in (lambda: DatasetReader(path).page(0, 10), lambda: list(DatasetReader(path).iter_records()),
                 lambda: datafiles.count_records(path) and list(datafiles.iter_records(path))):
        with pytest.raises(DataFileError) as err:
            read()
        assert str(path) in str(err.value)
        assert expected in str(err.value)


def test_object_instead_of_array_names_its_keys(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{\n "data": [], "version": 1}\n')
    with pytest.raises(DataFileError, match="found an object"):
        DatasetReader(path).page(0, 1)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="missing.json: file not found"):
        DatasetReader(tmp_path / "missing.json")


def test_folder_with_mixed_types(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.json").write_text('[{"a": 1}]')
    (folder / "b.jsonl").write_text('{"a": 2}\n')
    with pytest.raises(DataFileError, match=r"mixed: the folder mixes file types \(.json, .jsonl\)"):
        DatasetReader(folder)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_bom_is_accepted(tmp_path, suffix):
    path = tmp_path / f"bom{suffix}"
    body = '[{"text": "你好"}]' if suffix == ".json" else '{"text": "你好"}\n{"text": "再见"}\n'
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    reader = DatasetReader(path)
    assert reader.page(0, 1) == [(0, {"text": "你好"})]
    assert next(reader.iter_records()) == {"text": "你好"}


def test_error_deep_in_a_large_file_is_located_without_loading_it(tmp_path, small_chunks):
    lines = [json.dumps({"i": i, "t": "文本"}, ensure_ascii=False) for i in range(300)]
    lines[250] = '{"i": 250, "t": "broken}'
    path = tmp_path / "deep.json"
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    reader = DatasetReader(path)
    assert reader.page(0, 2)[1][1] == {"i": 1, "t": "文本"}  # early pages still work
    with pytest.raises(DataFileError, match="line 252"):
        reader.count()
    with pytest.raises(DataFileError, match="line 252"):
        list(reader.iter_records())
