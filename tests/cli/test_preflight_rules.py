"""One test per pre-flight rule of issue 12, through the real ``medtui train``/``export``: exit 2, the
field named in the message, and nothing started (no run record, no output folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from medtui.core.data.registry import DatasetRegistry
from tests.conftest import medtui_cli

MODEL = "models/workflow-demo-tiny-qwen2"


def sft(**over):
    cfg = {"stage": "sft", "finetuning_type": "lora", "model_name_or_path": MODEL, "dataset": "demo_sft_train_data",
           "template": "default", "output_dir": "saves/rule/sft", "save_steps": 1000}
    cfg.update(over)
    return cfg


def records(ws) -> list[dict]:
    return json.loads((ws.data_dir / "demo_sft_train_data.json").read_text(encoding="utf-8"))


def register(ws, name: str, data: bytes, entry: dict) -> None:
    (ws.data_dir / f"{name}.json").write_bytes(data)
    DatasetRegistry(ws.registry_path).add(name, {"file_name": f"{name}.json", **entry})


SFT_COLUMNS = {"columns": {"prompt": "instruction", "query": "input", "response": "output"}}
PAIR_COLUMNS = {"columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}}


def bom(ws):
    register(ws, "bom", b"\xef\xbb\xbf" + json.dumps(records(ws), ensure_ascii=False).encode(), SFT_COLUMNS)
    return sft(dataset="bom"), "dataset", "byte order mark (BOM)", "medtui data fix-bom bom"


def bad_utf8(ws):
    text = json.dumps(records(ws), ensure_ascii=False)
    cut = len(text) // 2
    word = next(ch for ch in text[cut:] if ord(ch) > 0x4E00)  # a Chinese character inside a string
    at = text.index(word, cut)
    register(ws, "gbk", text[:at].encode() + word.encode("gbk") + text[at + 1:].encode(), SFT_COLUMNS)
    return sft(dataset="gbk"), "dataset", "not UTF-8 text", "save the file as UTF-8"


def truncated(ws):
    register(ws, "cut", json.dumps(records(ws), ensure_ascii=False).encode()[:-40], SFT_COLUMNS)
    return sft(dataset="cut"), "dataset", "cut: Unreadable file", "line 1"


def wrong_type(ws):
    recs = records(ws)
    recs[-1]["instruction"] = {"text": recs[-1]["instruction"]}
    register(ws, "typed", json.dumps(recs, ensure_ascii=False).encode(), SFT_COLUMNS)
    return sft(dataset="typed"), "dataset", "'instruction' (prompt) must be a string, found an object", "first: 18"


def history_not_pairs(ws):
    recs = records(ws)
    recs[0]["history"] = ["just one string"]
    register(ws, "hist", json.dumps(recs, ensure_ascii=False).encode(),
             {"columns": {**SFT_COLUMNS["columns"], "history": "history"}})
    return sft(dataset="hist"), "dataset", "'history' (history) must be a list of [query, response]", "first: 0"


def columns_not_object(ws):
    register(ws, "cols", json.dumps(records(ws), ensure_ascii=False).encode(),
             {"columns": ["instruction", "input", "output"]})
    return sft(dataset="cols"), "dataset", "columns must be an object", "AttributeError"


def tags_not_object(ws):
    convs = [{"conversations": [{"from": "human", "value": r["instruction"]}, {"from": "gpt", "value": r["output"]}]}
             for r in records(ws)]
    register(ws, "tagged", json.dumps(convs, ensure_ascii=False).encode(),
             {"formatting": "sharegpt", "columns": {"messages": "conversations"}, "tags": "from/value"})
    return sft(dataset="tagged"), "dataset", "tags must be an object", "AttributeError"


def ranking_unmapped(ws):
    register(ws, "ranked", json.dumps(records(ws), ensure_ascii=False).encode(), {"ranking": True, **SFT_COLUMNS})
    return sft(stage="dpo", dataset="ranked"), "dataset", "columns.chosen and columns.rejected are not mapped", \
        "KeyError: None"


def ranking_without_pairs(ws):
    register(ws, "nopairs", json.dumps(records(ws), ensure_ascii=False).encode(), {"ranking": True, **PAIR_COLUMNS})
    return sft(stage="dpo", dataset="nopairs"), "dataset", "no record holds the pair 'chosen'/'rejected'", \
        "drop --ranking"


def sharegpt_on_alpaca(ws):
    register(ws, "sg", json.dumps(records(ws), ensure_ascii=False).encode(),
             {"formatting": "sharegpt", "columns": {"messages": "conversations"}})
    return sft(dataset="sg"), "dataset", "formatting is sharegpt but the records have no 'conversations' list", \
        "look like alpaca"


def messages_with_wrong_tags(ws):
    convs = [{"messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}]}
             for r in records(ws)]
    register(ws, "oai", json.dumps(convs, ensure_ascii=False).encode(),
             {"formatting": "sharegpt", "columns": {"messages": "messages"}})
    return sft(dataset="oai"), "dataset", "message 0 has no 'from' or 'value'", "check formatting and tags"


def unknown_key(ws):
    return sft(learnig_rate=1e-4), "learnig_rate", "has no argument 'learnig_rate'", "did you mean learning_rate"


def unknown_template(ws):
    return sft(template="qwen25"), "template", "has no template 'qwen25'", "did you mean qwen"


RULES = [bom, bad_utf8, truncated, wrong_type, history_not_pairs, columns_not_object, tags_not_object,
         ranking_unmapped, ranking_without_pairs, sharegpt_on_alpaca, messages_with_wrong_tags, unknown_key,
         unknown_template]


def assert_refused(ws, proc, field, *needles, out_dir: Path):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(f"error: {field}: ")]
    assert lines, proc.stderr
    assert any(all(n in ln for n in needles) for ln in lines), lines
    assert "Traceback" not in proc.stderr
    assert not ws.runs_dir.exists() or not any(ws.runs_dir.iterdir())
    assert not out_dir.exists()


@pytest.mark.parametrize("rule", RULES, ids=[r.__name__ for r in RULES])
def test_each_rule_refuses_the_run_with_exit_2(demo_ws, tmp_path, rule):
    cfg, field, *needles = rule(demo_ws)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    proc = medtui_cli("train", str(path), "--workspace", str(demo_ws.root))
    assert_refused(demo_ws, proc, field, *needles, out_dir=demo_ws.root / cfg["output_dir"])
    dry = medtui_cli("train", str(path), "--dry-run", "--workspace", str(demo_ws.root))
    assert dry.returncode == 2 and any(ln.startswith(f"error: {field}: ") for ln in dry.stderr.splitlines())


def test_a_good_config_still_passes(demo_ws, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(sft()))
    proc = medtui_cli("train", str(path), "--dry-run", "--workspace", str(demo_ws.root))
    assert proc.returncode == 0 and "error:" not in proc.stderr, proc.stderr


def test_export_dry_run_refuses_an_unknown_template(demo_ws):
    out = demo_ws.saves_dir / "exported"
    proc = medtui_cli("export", "--model", MODEL, "--out", str(out), "--template", "qwen25", "--dry-run",
                      "--workspace", str(demo_ws.root))
    assert_refused(demo_ws, proc, "template", "has no template 'qwen25'", "did you mean qwen", out_dir=out)
    proc = medtui_cli("export", "--model", MODEL, "--out", str(out), "--template", "qwen25",
                      "--workspace", str(demo_ws.root))
    assert_refused(demo_ws, proc, "template", "has no template 'qwen25'", out_dir=out)
    ok = medtui_cli("export", "--model", MODEL, "--out", str(out), "--template", "qwen", "--dry-run",
                    "--workspace", str(demo_ws.root))
    assert ok.returncode == 0, ok.stderr


def test_export_refuses_an_unknown_key(demo_ws, tmp_path):
    out = demo_ws.saves_dir / "exported"
    path = tmp_path / "export.yaml"
    path.write_text(yaml.safe_dump({"model_name_or_path": MODEL, "export_dir": str(out), "template": "default",
                                    "export_sise": 2}))
    proc = medtui_cli("export", str(path), "--workspace", str(demo_ws.root))
    assert_refused(demo_ws, proc, "export_sise", "(export) has no argument 'export_sise'", "did you mean export_size",
                   out_dir=out)


def test_allow_extra_args_lets_unknown_keys_through(demo_ws, tmp_path):
    """llamafactory itself accepts unknown keys with ALLOW_EXTRA_ARGS=1; so does pre-flight."""
    (demo_ws.state_dir).mkdir(parents=True, exist_ok=True)
    (demo_ws.state_dir / "run-env.json").write_text(json.dumps({"ALLOW_EXTRA_ARGS": "1"}))
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(sft(my_note="kept")))
    proc = medtui_cli("train", str(path), "--dry-run", "--workspace", str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr


def test_disk_estimate_on_a_real_small_volume(demo_ws, tmp_path):
    """The output folder on a 300 KB tmpfs: too small for the full model's checkpoints."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        path = tmp_path / "run.yaml"
        out = mount / "sft"
        path.write_text(yaml.safe_dump(sft(finetuning_type="full", save_steps=1, output_dir=str(out))))
        proc = medtui_cli("train", str(path), "--workspace", str(demo_ws.root))
        assert_refused(demo_ws, proc, "save_steps", "checkpoint(s) of", "optimizer state", "is free on the volume",
                       "save_only_model", out_dir=out)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
