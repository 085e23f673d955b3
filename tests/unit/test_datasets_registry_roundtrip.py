"""dataset_info.json round trips on a large, realistic registry, and crash safety of its saves."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medtui.core.data.registry import DatasetRegistry, RegistryError

ROOT = Path(__file__).resolve().parents[2]


def realistic_registry(n: int = 150) -> dict:
    """Entries in every shape LLaMA-Factory's own data/dataset_info.json uses, plus user additions."""
    base = {
        "alpaca_en_demo": {"file_name": "alpaca_en_demo.json"},
        "identity": {"file_name": "identity.json"},
        "医疗对话_中文": {"file_name": "Chinese-medical-dialogue/data/train_0001_of_0001.json",
                      "columns": {"prompt": "instruction", "query": "input", "response": "output"},
                      "备注": "来自教程"},
        "custom_pt_train_data": {"file_name": "custom_pt_train_data.json", "columns": {"prompt": "text"}},
        "glaive_toolcall_en_demo": {"file_name": "glaive_toolcall_en_demo.json", "formatting": "sharegpt",
                                    "columns": {"messages": "conversations", "tools": "tools"}},
        "mllm_demo": {"file_name": "mllm_demo.json", "formatting": "sharegpt",
                      "columns": {"messages": "messages", "images": "images"},
                      "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                               "assistant_tag": "assistant"}},
        "openai_chat": {"file_name": "chat.jsonl", "formatting": "openai",
                        "columns": {"messages": "messages", "tools": "tools"},
                        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                 "assistant_tag": "assistant", "system_tag": "system",
                                 "observation_tag": "tool", "function_tag": "function_call"}},
        "dpo_en_demo": {"file_name": "dpo_en_demo.json", "formatting": "sharegpt", "ranking": True,
                        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}},
        "custom_rlhf_train_data": {"file_name": "custom_rlhf_train_data.json", "ranking": True,
                                   "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                               "rejected": "rejected"}},
        "kto_en_demo": {"file_name": "kto_en_demo.json", "formatting": "sharegpt",
                        "columns": {"messages": "messages", "kto_tag": "label"},
                        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                 "assistant_tag": "assistant"}},
        "belle_2m": {"hf_hub_url": "BelleGroup/train_2M_CN", "ms_hub_url": "AI-ModelScope/train_2M_CN"},
        "huatuo_26m": {"ms_hub_url": "FreedomIntelligence/Huatuo26M-Lite", "split": "train",
                       "columns": {"prompt": "question", "response": "answer"}, "num_samples": 10000},
        "wiki_demo": {"file_name": "wiki_demo.txt", "columns": {"prompt": "text"}},
        "c4_demo": {"file_name": "c4_demo.jsonl", "columns": {"prompt": "text"}},
        "refinedweb": {"hf_hub_url": "tiiuae/falcon-refinedweb", "columns": {"prompt": "content"}},
        "openmind_set": {"om_hub_url": "openmind/alpaca", "subset": "zh", "folder": "data"},
        "scripted": {"script_url": "hiyouga/some_script", "columns": {"prompt": "q", "response": "a"}},
        "cloud": {"cloud_file_name": "s3://bucket/data.json"},
        "with_unknowns": {"file_name": "x.json", "x-owner": {"team": "医学", "since": 2024}, "weights": [0.5, 1.5],
                          "enabled": False, "note": None, "emoji": "🙂"},
    }
    rng = random.Random(42)
    shapes = list(base.values())
    out = dict(base)
    for i in range(n - len(base)):
        entry = json.loads(json.dumps(rng.choice(shapes)))
        entry["file_name" if "file_name" in entry else next(iter(entry))] = f"set_{i}/数据_{i}.json"
        if i % 7 == 0:
            entry["description"] = f"第 {i} 个数据集 — “quoted” \\ back\tslash"
        out[f"dataset_{i:03d}" if i % 5 else f"数据集_{i}"] = entry
    return out


STYLES = {
    "indent4": lambda d: json.dumps(d, indent=4, ensure_ascii=False) + "\n",
    "tabs": lambda d: json.dumps(d, indent="\t", ensure_ascii=False),
    "ascii-escaped": lambda d: json.dumps(d, indent=2, ensure_ascii=True) + "\n",
    "bom-crlf": lambda d: "\ufeff" + json.dumps(d, indent=2, ensure_ascii=False).replace("\n", "\r\n") + "\r\n",
    "compact": lambda d: json.dumps(d, ensure_ascii=False),
}

NEW_ENTRIES = {
    "new_alpaca": {"file_name": "new.json", "columns": {"prompt": "instruction", "response": "output"}},
    "new_sharegpt": {"file_name": "sg.json", "formatting": "sharegpt", "columns": {"messages": "conversations"},
                     "tags": {"role_tag": "from", "content_tag": "value"}},
    "新的偏好数据": {"file_name": "偏好.json", "ranking": True,
                "columns": {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}},
    "new_kto": {"file_name": "k.jsonl", "columns": {"prompt": "instruction", "response": "output",
                                                    "kto_tag": "kto_tag"}},
    "new_hub": {"ms_hub_url": "org/name", "hf_hub_url": "org/name"},
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_add_then_remove_is_byte_identical(tmp_path, style):
    data = realistic_registry()
    path = tmp_path / "dataset_info.json"
    text = STYLES[style](data)
    path.write_bytes(text.encode("utf-8"))
    original = path.read_bytes()
    reg = DatasetRegistry(path)
    assert reg.error is None and len(reg) == len(data)
    for name, entry in NEW_ENTRIES.items():
        reg.add(name, entry)
        reloaded = DatasetRegistry(path)
        assert reloaded.get(name) == entry
        assert {k: v for k, v in reloaded.items() if k != name} == data  # every other entry untouched
        if style == "tabs":
            assert f'\n\t"{name}": ' in path.read_text(encoding="utf-8")
        if style == "ascii-escaped" and not name.isascii():
            assert name not in path.read_text(encoding="utf-8")  # stays in the file's \\u style
        reg.remove(name)
        assert path.read_bytes() == original, f"add+remove of {name} changed the file"
    # several at once, removed in another order
    for name, entry in NEW_ENTRIES.items():
        reg.add(name, entry)
    for name in reversed(list(NEW_ENTRIES)):
        reg.remove(name)
    assert path.read_bytes() == original


def test_update_keeps_unknown_keys_and_other_bytes(tmp_path):
    data = realistic_registry()
    path = tmp_path / "dataset_info.json"
    path.write_text(STYLES["indent4"](data), encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    reg = DatasetRegistry(path)
    changed = dict(data["with_unknowns"], columns={"prompt": "text"})
    reg.update("with_unknowns", changed)
    after = path.read_text(encoding="utf-8")
    assert DatasetRegistry(path).get("with_unknowns") == changed
    start = before.index('    "with_unknowns"')
    assert after[:start] == before[:start]  # everything before the entry is untouched
    assert after.endswith(before[before.index("\n    }", start) + 6:])


def test_removing_an_existing_entry_then_adding_it_back_keeps_it(tmp_path):
    path = tmp_path / "dataset_info.json"
    data = realistic_registry(40)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    reg = DatasetRegistry(path)
    reg.remove("医疗对话_中文")
    reg.add("医疗对话_中文", data["医疗对话_中文"])
    assert DatasetRegistry(path).get("医疗对话_中文") == data["医疗对话_中文"]


def test_malformed_registry_is_never_written(tmp_path):
    path = tmp_path / "dataset_info.json"
    raw = b'{\n  "a": {"file_name": "a.json"},\n  "b": {"file_name": \n}\n'
    path.write_bytes(raw)
    reg = DatasetRegistry(path)
    assert "line 4, column 1" in reg.error
    for edit in (lambda: reg.add("c", {"file_name": "c.json"}), lambda: reg.remove("a"),
                 lambda: reg.update("a", {"file_name": "z"})):
        with pytest.raises(RegistryError, match="refusing to write"):
            edit()
    assert path.read_bytes() == raw


def test_a_failed_save_leaves_the_old_file_and_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "dataset_info.json"
    path.write_text(json.dumps(realistic_registry(30), indent=2, ensure_ascii=False), encoding="utf-8")
    original = path.read_bytes()
    reg = DatasetRegistry(path)

    def crash(*_args, **_kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(RegistryError, match="simulated crash.*nothing was changed"):
        reg.add("x", {"file_name": "x.json"})
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


SAVER = """
import sys
from medtui.core.data.registry import DatasetRegistry
reg = DatasetRegistry(sys.argv[1])
big = {"file_name": "big.json", "columns": {"prompt": "instruction"}, "padding": ["填充" * 50] * 400}
print("ready", flush=True)
while True:
    reg.add("churn", big)
    reg.remove("churn")
"""


def test_killing_a_process_mid_save_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "dataset_info.json"
    data = realistic_registry(300)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    original = path.read_bytes()
    rng = random.Random(3)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    states = set()
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.01, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        parsed = json.loads(path.read_text(encoding="utf-8"))  # never torn
        assert {k: v for k, v in parsed.items() if k != "churn"} == data
        states.add("churn" in parsed)
        if "churn" not in parsed:
            assert path.read_bytes() == original
        if "churn" in parsed:
            DatasetRegistry(path).remove("churn")
        for leftover in tmp_path.glob(".dataset_info.json.*.tmp"):
            leftover.unlink()  # a killed writer may leave its temp file; the real file is intact
    print("states seen (entry present?):", states)
    assert path.read_bytes() == original
