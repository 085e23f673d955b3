"""Dataset core: stage compatibility, format detection, validation, statistics, schemas, editing."""

from __future__ import annotations

import json

import pytest

from medtui.core.data.columns import record_texts, resolved_columns
from medtui.core.data.detect import detect_format, suggest_entry
from medtui.core.data.document import DatasetDocument, TooLargeToEdit
from medtui.core.data.fit import fits, stages_for
from medtui.core.data.registry import DatasetRegistry
from medtui.core.data.schema import SCHEMAS, create_dataset
from medtui.core.data.stats import dataset_stats, format_stats
from medtui.core.data.validation import validate_dataset
from medtui.core.errors import MedtuiError

MODEL = "models/workflow-demo-tiny-qwen2"


def test_stage_compatibility_of_the_tutorial_entries():
    pt = {"file_name": "pt.json", "columns": {"prompt": "text"}}
    rlhf = {"file_name": "r.json", "ranking": True, "columns": {"prompt": "instruction", "chosen": "chosen",
                                                               "rejected": "rejected"}}
    kto = {"file_name": "k.json", "columns": {"prompt": "instruction", "response": "output", "kto_tag": "kto_tag"}}
    assert stages_for(pt) == ["pt", "ppo"]
    assert stages_for(rlhf) == ["rm", "dpo"]
    assert stages_for(kto) == ["pt", "sft", "ppo", "kto"]
    assert stages_for({"file_name": "plain.json"}) == ["pt", "sft", "ppo"]  # llamafactory's alpaca defaults
    assert "kto_tag" in fits("kto", {"file_name": "x"})
    assert "ranking" in fits("dpo", pt)
    assert "preference" in fits("sft", rlhf)
    assert fits("pt", {"file_name": "x", "formatting": "sharegpt"}) is not None


def test_format_detection_and_suggested_entries():
    openai = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}]
    sharegpt = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}],
                 "system": "s"}]
    assert detect_format(openai) == "openai"
    assert detect_format(sharegpt) == "sharegpt"
    assert detect_format([{"instruction": "a", "output": "b"}]) == "alpaca"
    assert suggest_entry("pt.json", [{"text": "句子"}]) == {"file_name": "pt.json", "columns": {"prompt": "text"}}
    pref = suggest_entry("p.json", [{"instruction": "q", "input": "", "chosen": "a", "rejected": "b"}])
    assert pref["ranking"] is True and pref["columns"] == {"prompt": "instruction", "query": "input",
                                                           "chosen": "chosen", "rejected": "rejected"}
    kto = suggest_entry("k.json", [{"instruction": "q", "output": "a", "kto_tag": False}])
    assert kto["columns"]["kto_tag"] == "kto_tag"
    oa = suggest_entry("c.jsonl", openai)
    assert oa["formatting"] == "openai" and oa["columns"] == {"messages": "messages"}
    assert oa["tags"]["role_tag"] == "role"
    sg = suggest_entry("s.json", sharegpt)
    assert sg["formatting"] == "sharegpt" and sg["columns"] == {"messages": "conversations", "system": "system"}


def test_columns_resolve_like_llamafactory():
    assert resolved_columns({"file_name": "x"})["response"] == "output"
    assert resolved_columns({"file_name": "x", "columns": {"prompt": "text"}})["response"] is None
    texts = record_texts({"formatting": "sharegpt"}, {"conversations": [{"from": "human", "value": "你好"},
                                                                         {"from": "gpt", "value": "再见"}]})
    assert texts == {"messages": "你好\n再见"}


def write(path, records):
    path.write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def test_validation_counts_each_problem_with_first_records(tmp_path):
    entry = {"file_name": "k.json", "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                                "kto_tag": "kto_tag"}}
    good = {"instruction": "问", "input": "", "output": "答", "kto_tag": True}
    records = [good, {**good, "output": ""}, {**good, "kto_tag": "yes"}, dict(good), {**good, "instruction": None},
               {**good, "output": "x", "kto_tag": 1}, {"instruction": "q", "kto_tag": False}]
    path = write(tmp_path / "k.json", records)
    report = validate_dataset(path, entry, "kto", name="k")
    by_kind = {(f.kind, f.message): f for f in report.findings}
    assert report.records == 7 and not report.ok
    assert by_kind[("missing", "'output' (response)")].first == [1, 6]
    assert by_kind[("missing", "'instruction' (prompt)")].count == 1
    assert by_kind[("kto_tag", "'kto_tag' must be true or false")].first == [2, 5]
    assert by_kind[("duplicate", "same content as an earlier record")].first == [3]
    assert report.counts()["kto_tag"] == 2
    assert any("token checks skipped" in line for line in report.lines())
    assert "kto_tag 不是布尔值" in "\n".join(report.lines("zh"))


def test_validation_of_ranking_mismatch_and_messages(tmp_path):
    path = write(tmp_path / "p.json", [{"instruction": "q", "chosen": "a", "rejected": "b"}])
    report = validate_dataset(path, {"file_name": "p.json"}, "dpo")
    kinds = [f.kind for f in report.findings]
    assert kinds.count("ranking") == 2  # the stage needs ranking; the records look like pairs
    sg = write(tmp_path / "s.json", [{"conversations": [{"from": "human", "value": "hi"}]},
                                     {"conversations": [{"from": "gpt", "value": "x"}, {"from": "human", "value": "y"}]},
                                     {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "ok"}]},
                                     {"conversations": "text"}])
    report = validate_dataset(sg, {"file_name": "s.json", "formatting": "sharegpt"}, "sft")
    msgs = {f.message: f.first for f in report.findings if f.kind == "messages"}
    assert msgs["the conversation must end with an assistant turn"] == [0]
    assert [v for k, v in msgs.items() if k.startswith("roles must alternate")] == [[1]]
    types = {f.message: f.first for f in report.findings if f.kind == "type"}
    assert types["'conversations' (messages) must be a list of message objects, found a string"] == [3]


def test_validation_reports_an_unreadable_file_and_an_empty_one(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1}, oops]')
    report = validate_dataset(bad, {"file_name": "bad.json"}, "sft")
    assert report.findings[-1].kind == "unreadable" and "line 1, column 12" in report.findings[-1].message
    empty = write(tmp_path / "empty.json", [])
    assert [f.kind for f in validate_dataset(empty, {"file_name": "e.json"}, "sft").findings] == ["empty"]


def test_token_checks_use_the_model_tokenizer(demo_ws):
    reg = demo_ws.registry()
    model = str(demo_ws.root / MODEL)
    kto = validate_dataset(reg.data_file("demo_kto_train_data"), reg.get("demo_kto_train_data"), "kto",
                           model=model, cutoff_len=5)
    too_long = next(f for f in kto.findings if f.kind == "too_long")
    assert too_long.count == kto.tokens["over"]["count"] > 0
    assert kto.tokens["fields"]["record"]["max"] > 5
    relaxed = validate_dataset(reg.data_file("demo_kto_train_data"), reg.get("demo_kto_train_data"), "kto",
                               model=model, cutoff_len=10_000)
    assert relaxed.ok and not any(f.kind == "too_long" for f in relaxed.findings)
    pt_file, pt_entry = reg.data_file("custom_pt_train_data"), reg.get("custom_pt_train_data")
    ok = validate_dataset(pt_file, pt_entry, "pt", model=model, cutoff_len=16)
    total = ok.tokens["total"]
    assert ok.ok and f"{total} tokens make {total // 16} packed block(s)" in "\n".join(ok.lines())
    short = validate_dataset(pt_file, pt_entry, "pt", model=model, cutoff_len=total + 1)
    assert not short.ok and "Cannot find sufficient samples" in "\n".join(short.lines())


def test_stats_in_characters_and_tokens(demo_ws):
    reg = demo_ws.registry()
    path, entry = reg.data_file("custom_rlhf_train_data"), reg.get("custom_rlhf_train_data")
    records = json.loads(path.read_text(encoding="utf-8"))
    stats = dataset_stats(path, entry, model=str(demo_ws.root / MODEL))
    assert stats["records"] == len(records) == 19
    chosen = stats["chars"]["fields"]["chosen"]
    assert chosen["max"] == max(len(r["chosen"]) for r in records)
    assert sum(chosen["counts"]) == 19 and len(chosen["edges"]) == len(chosen["counts"]) + 1
    assert stats["tokens"]["fields"]["prompt"]["count"] == 19
    assert stats["tokens"]["fields"]["record"]["max"] < stats["chars"]["fields"]["record"]["max"]
    text = "\n".join(format_stats(stats))
    assert "records: 19" in text and "tokens" in text and "chosen" in text


def test_new_files_from_every_schema(tmp_path):
    reg_path = tmp_path / "dataset_info.json"
    reg_path.write_text("{}\n")
    reg = DatasetRegistry(reg_path)
    for kind in SCHEMAS:
        path = create_dataset(reg, f"my_{kind}", kind)
        assert json.loads(path.read_text()) == []
        assert stages_for(reg.get(f"my_{kind}")) and (kind != "kto" or "kto" in stages_for(reg.get("my_kto")))
    assert DatasetRegistry(reg_path).get("my_preference")["ranking"] is True
    with pytest.raises(MedtuiError, match="already"):
        create_dataset(reg, "my_pt", "pt")
    (tmp_path / "taken.json").write_text("[]")
    with pytest.raises(MedtuiError, match="already exists"):
        create_dataset(reg, "other", "pt", "taken.json")


def test_document_edits_and_saves_atomically_keeping_style(tmp_path):
    path = tmp_path / "d.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"text": "一"}, {"text": "二"}], ensure_ascii=False,
                                                  indent=1).encode())
    doc = DatasetDocument.load(path)
    doc.add({"text": "三"})
    doc.duplicate(0)
    doc.update(0, {"text": "改"})
    doc.delete(2)
    doc.save()
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b'\n {\n  "text"' in raw
    assert json.loads(raw.decode("utf-8-sig")) == [{"text": "改"}, {"text": "一"}, {"text": "三"}]
    jl = tmp_path / "d.jsonl"
    jl.write_text('{"a": 1}\n')
    doc = DatasetDocument.load(jl)
    doc.add({"a": "二"})
    doc.save()
    assert jl.read_text(encoding="utf-8") == '{"a": 1}\n{"a": "二"}\n'
    with pytest.raises(TooLargeToEdit, match="preview only"):
        DatasetDocument.load(path, limit=10)
    with pytest.raises(MedtuiError, match="no record 5"):
        doc.delete(5)


def test_core_has_no_textual_and_the_screen_no_heavy_imports():
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys, medtui.core.data.validation, medtui.core.data.stats, medtui.core.data.fit, "
            "medtui.cli.data_cmd\nassert 'textual' not in sys.modules, 'core imported textual'\n"
            "import medtui.tui.screens.datasets.screen\n"
            "heavy = [m for m in ('torch', 'transformers', 'llamafactory', 'datasets', 'trl', 'peft', 'tokenizers') "
            "if m in sys.modules]\nassert not heavy, heavy\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
