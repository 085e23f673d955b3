"""dataset_info.json: byte-preserving edits, unknown keys, atomic writes, malformed files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from medtui.core.data.registry import DatasetRegistry, RegistryError

ORIGINAL = """{
    "custom_pt_train_data": {
        "file_name": "custom_pt_train_data.json",
        "columns": {"prompt": "text"},
        "x-owner": "张三"
    },
    "sharegpt_set": {
        "file_name": "chat.json",
        "formatting": "sharegpt",
        "columns": {"messages": "conversations"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
    },

    "hub_set": {"ms_hub_url": "xiaofengalg/Chinese-medical-dialogue", "unknown_future_key": [1, 2, {"a": null}]}
}
"""


@pytest.fixture
def reg_path(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text(ORIGINAL, encoding="utf-8")
    return path


def test_lists_and_gets_entries_with_unknown_keys(reg_path):
    reg = DatasetRegistry(reg_path)
    assert reg.names() == ["custom_pt_train_data", "sharegpt_set", "hub_set"]
    assert reg.get("hub_set")["unknown_future_key"] == [1, 2, {"a": None}]
    assert reg.data_file("custom_pt_train_data") == reg_path.parent / "custom_pt_train_data.json"
    assert reg.data_file("hub_set") is None


def test_add_then_remove_is_byte_identical(reg_path):
    before = reg_path.read_bytes()
    reg = DatasetRegistry(reg_path)
    reg.add("new_set", {"file_name": "new.json", "ranking": True, "columns": {"prompt": "q", "chosen": "c"}})
    assert DatasetRegistry(reg_path).get("new_set")["ranking"] is True
    DatasetRegistry(reg_path).remove("new_set")  # a fresh process-like reload, then remove
    assert reg_path.read_bytes() == before


def test_add_uses_the_files_indentation_and_keeps_other_bytes(reg_path):
    reg = DatasetRegistry(reg_path)
    reg.add("pairs", {"file_name": "p.json", "columns": {"prompt": "指令"}})
    text = reg_path.read_text(encoding="utf-8")
    assert text.startswith(ORIGINAL.rstrip()[: ORIGINAL.rstrip().rfind("}")].rstrip())
    assert '\n    "pairs": {\n        "file_name": "p.json",' in text
    assert "指令" in text  # non-ASCII stays readable, as in the file


def test_update_rewrites_only_that_entry(reg_path):
    reg = DatasetRegistry(reg_path)
    entry = dict(reg.get("sharegpt_set"), num_samples=10)
    reg.update("sharegpt_set", entry)
    text = reg_path.read_text(encoding="utf-8")
    head = ORIGINAL[: ORIGINAL.index('"sharegpt_set"')]
    tail = ORIGINAL[ORIGINAL.index('\n\n    "hub_set"'):]
    assert text.startswith(head) and text.endswith(tail)
    assert DatasetRegistry(reg_path).get("sharegpt_set")["num_samples"] == 10


def test_unchanged_update_does_not_touch_the_file(reg_path):
    mtime = reg_path.stat().st_mtime_ns
    reg = DatasetRegistry(reg_path)
    reg.update("hub_set", reg.get("hub_set"))
    assert reg_path.stat().st_mtime_ns == mtime
    assert not reg_path.with_name("dataset_info.json.bak").exists()


def test_remove_first_middle_last_and_only(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text('{\n  "a": {"file_name": "a.json"},\n  "b": {"file_name": "b.json"},\n  "c": 3\n}\n')
    for name, left in (("b", ["a", "c"]), ("a", ["c"]), ("c", [])):
        reg = DatasetRegistry(path)
        reg.remove(name)
        assert json.loads(path.read_text()) == {k: v for k, v in reg.items()}
        assert DatasetRegistry(path).names() == left
    reg = DatasetRegistry(path)
    reg.add("z", {"file_name": "z.json"})
    assert DatasetRegistry(path).names() == ["z"]


def test_tab_indented_and_escaped_files_keep_their_style(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text('{\n\t"a": {\n\t\t"file_name": "\\u533b.json"\n\t}\n}')
    reg = DatasetRegistry(path)
    reg.add("b", {"file_name": "医.json"})
    text = path.read_text()
    assert '\n\t"b": {\n\t\t"file_name": "\\u533b.json"\n\t}' in text
    reg.remove("b")
    assert path.read_text() == '{\n\t"a": {\n\t\t"file_name": "\\u533b.json"\n\t}\n}'


def test_bom_is_accepted_and_kept(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": {"file_name": "a.json"}}')
    reg = DatasetRegistry(path)
    reg.add("b", {"file_name": "b.json"})
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    reg.remove("b")
    assert path.read_bytes() == b'\xef\xbb\xbf{"a": {"file_name": "a.json"}}'


def test_writes_keep_a_backup_of_the_previous_version(reg_path):
    DatasetRegistry(reg_path).add("x", {"file_name": "x.json"})
    assert reg_path.with_name("dataset_info.json.bak").read_text(encoding="utf-8") == ORIGINAL


@pytest.mark.parametrize("content, needle", [
    ('{"a": {"file_name": "a.json"},,}', "line 1, column 31"),
    ('["not", "an", "object"]', "must be a JSON object"),
    (b'{"a": "\xff"}', "not UTF-8"),
])
def test_malformed_registry_is_read_only_and_never_overwritten(tmp_path, content, needle):
    path = tmp_path / "dataset_info.json"
    raw = content if isinstance(content, bytes) else content.encode()
    path.write_bytes(raw)
    reg = DatasetRegistry(path)
    assert reg.read_only and needle in reg.error
    with pytest.raises(RegistryError, match="refusing to write"):
        reg.add("b", {"file_name": "b.json"})
    assert path.read_bytes() == raw


def test_bad_edits_are_refused_with_messages(reg_path):
    reg = DatasetRegistry(reg_path)
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("hub_set", {})
    with pytest.raises(RegistryError, match="not registered"):
        reg.remove("nope")
    with pytest.raises(RegistryError, match="not registered"):
        reg.update("nope", {})
    assert reg_path.read_text(encoding="utf-8") == ORIGINAL


def test_failed_rename_leaves_the_old_file(reg_path, monkeypatch):
    def boom(*_a, **_k):
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(RegistryError, match="disk vanished"):
        DatasetRegistry(reg_path).add("x", {"file_name": "x.json"})
    monkeypatch.undo()
    assert reg_path.read_text(encoding="utf-8") == ORIGINAL
    assert [p.name for p in reg_path.parent.iterdir() if p.name.endswith(".tmp")] == []


WRITER = """
import sys, itertools
from medtui.core.data.registry import DatasetRegistry
path = sys.argv[1]
for i in itertools.count():
    reg = DatasetRegistry(path)
    if "big" in reg:
        reg.remove("big")
    else:
        reg.add("big", {"file_name": "big.json", "blob": "x" * 400000, "n": i})
"""


def test_kill_during_saves_never_leaves_a_torn_file(reg_path):
    """SIGKILL a process that keeps rewriting the registry: the file always parses."""
    valid = {json.dumps(json.loads(ORIGINAL), sort_keys=True)}
    for delay in (0.35, 0.6, 0.85, 1.1):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(reg_path)])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(reg_path.read_text(encoding="utf-8"))
        assert set(data) in ({"custom_pt_train_data", "sharegpt_set", "hub_set"},
                             {"custom_pt_train_data", "sharegpt_set", "hub_set", "big"})
        if "big" not in data:
            assert json.dumps(data, sort_keys=True) in valid
