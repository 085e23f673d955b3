"""Chat, predict and export plumbing that needs no model load: protocol, settings, transcripts,
model resolution, predict configs and results, the worker's answers to bad requests, and the
rule that the UI never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medtui.core.chat import protocol, transcript
from medtui.core.chat.client import ChatClient, WorkerError
from medtui.core.chat.models import ModelSource, suggest_template
from medtui.core.chat.settings import gen_defaults, parse_gen
from medtui.core.errors import MedtuiError
from medtui.core.predict import format_metrics, predict_config, read_metrics, read_predictions
from medtui.core.stages.builder import build_plan
from medtui.core.stages.validate import validate

ROOT = Path(__file__).resolve().parents[2]


# -- protocol -----------------------------------------------------------------------------------
def test_protocol_round_trip_keeps_unicode_and_newlines():
    msg = protocol.request("chat", "7", messages=[{"role": "user", "content": "头痛\n怎么办？"}], gen={"top_k": 5})
    line = protocol.encode(msg)
    assert line.endswith("\n") and line.count("\n") == 1
    assert "头痛" in line  # not \u-escaped: readable in logs
    assert protocol.decode(line) == msg
    assert protocol.decode(line.encode("utf-8")) == msg


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '"text"', "{"])
def test_protocol_rejects_non_objects(line):
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(line)


def test_protocol_names_are_checked_and_oom_recognised():
    with pytest.raises(ValueError):
        protocol.request("explode")
    with pytest.raises(ValueError):
        protocol.event("boom")
    assert protocol.error("x", "weird")["kind"] == "generate"
    assert protocol.is_oom(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert protocol.is_oom(MemoryError())
    assert not protocol.is_oom(ValueError("bad template"))


# -- generation settings ------------------------------------------------------------------------
def test_generation_settings_coerce_and_report_bad_values():
    gen, problems = parse_gen({"max_new_tokens": "64", "temperature": "0", "top_p": ""})
    assert problems == []
    assert gen["max_new_tokens"] == 64 and gen["temperature"] == 0.0
    assert gen["top_p"] == gen_defaults()["top_p"]  # empty falls back to the default
    gen, problems = parse_gen({"temperature": "hot", "top_k": "-1", "max_new_tokens": "0", "beam": "2"})
    assert {p.field for p in problems} == {"temperature", "top_k", "max_new_tokens", "beam"}


# -- transcripts --------------------------------------------------------------------------------
def test_transcript_messages_skip_errors_and_unanswered_questions(tmp_path):
    tr = transcript.Transcript(model="sft", system="你是医生")
    tr.add_user("第一个问题")
    tr.add_error("the chat worker was killed (SIGKILL).", "crash")
    tr.add_user("头痛怎么办？")
    tr.add_assistant("多休息。", stopped=True, usage={"completion_tokens": 3})
    assert tr.messages() == [{"role": "user", "content": "头痛怎么办？"}, {"role": "assistant", "content": "多休息。"}]
    other = transcript.Transcript(model="dpo")
    other.add_user("头痛怎么办？")
    other.add_assistant("喝水。")
    md, jsonl = transcript.save([tr, other], tmp_path / "chats", "t1")
    text = md.read_text(encoding="utf-8")
    assert "## sft" in text and "## dpo" in text and "**System:** 你是医生" in text
    assert "**Assistant (stopped):**" in text and "**Error:**" in text
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["model"] for r in records] == ["sft"] * 4 + ["dpo"] * 2
    assert records[3]["stopped"] is True and records[3]["usage"] == {"completion_tokens": 3}
    assert records[0]["system"] == "你是医生"
    assert not list((tmp_path / "chats").glob(".*.tmp"))  # atomic writes leave no temp files


# -- model resolution ---------------------------------------------------------------------------
def test_suggest_template_from_model_type(tmp_path):
    folder = tmp_path / "qwen"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "qwen3"}')
    assert suggest_template(ModelSource(str(folder))) == "qwen3"
    (folder / "config.json").write_text("{broken")
    assert suggest_template(ModelSource(str(folder))) == "default"


# -- predict configs and results ----------------------------------------------------------------
def test_predict_config_builds_a_predict_run(demo_ws):
    source = ModelSource(str(demo_ws.models_dir / "workflow-demo-tiny-qwen2"), ("saves/a",))
    config = predict_config(source, "demo_sft_train_data", template="default", output_dir="saves/predict/x",
                            max_samples=4, max_new_tokens=8)
    assert validate(config) == []
    plan = build_plan(config, demo_ws)
    body = plan.yaml_config
    assert plan.kind == "predict" and plan.stage == "sft"
    assert body["do_train"] is False and body["do_predict"] is True and body["predict_with_generate"] is True
    assert body["eval_dataset"] == "demo_sft_train_data" and body["max_samples"] == 4
    assert body["finetuning_type"] == "lora" and body["do_sample"] is False
    assert list(body)[:2] == ["stage", "do_train"]
    with pytest.raises(MedtuiError):
        predict_config(source, " ", template="default", output_dir="x")


def test_train_runs_still_train_and_predict_only_needs_eval_dataset(demo_ws):
    base = {"stage": "sft", "model_name_or_path": "models/workflow-demo-tiny-qwen2", "dataset": "demo_sft_train_data",
            "output_dir": "saves/x"}
    plan = build_plan(base, demo_ws)
    assert plan.yaml_config["do_train"] is True and plan.kind == "train"
    off = {**base, "do_train": "false"}
    assert build_plan({**off, "do_predict": "yes"}, demo_ws).yaml_config["do_train"] is False
    fields = {p.field for p in validate({k: v for k, v in off.items() if k != "dataset"})}
    assert "dataset" not in fields and {"eval_dataset", "do_train"} <= fields


def test_preflight_checks_the_eval_dataset(demo_ws):
    from medtui.core.stages.launch import prepare

    source = ModelSource(str(demo_ws.models_dir / "workflow-demo-tiny-qwen2"))
    for name, message in (("no_such_set", "not registered"), ("custom_rlhf_train_data", "ranking")):
        config = predict_config(source, name, template="default", output_dir="saves/predict/x")
        _, problems = prepare(config, demo_ws)
        assert any(p.field == "eval_dataset" and message in p.message for p in problems), problems


def test_read_metrics_and_predictions(tmp_path):
    assert read_metrics(tmp_path) == {}
    (tmp_path / "predict_results.json").write_text(json.dumps(
        {"predict_bleu-4": 12.5, "predict_rouge-1": 30.0, "predict_rouge-2": 5.25, "predict_rouge-l": 20.0,
         "predict_runtime": 1.5, "predict_model_preparation_time": "n/a"}))
    metrics = read_metrics(tmp_path)
    assert metrics["bleu-4"] == 12.5 and "model_preparation_time" not in metrics
    assert format_metrics(metrics).startswith("BLEU-4 12.50  ROUGE-1 30.00  ROUGE-2 5.25  ROUGE-L 20.00")
    lines = [json.dumps({"prompt": f"问{i}", "predict": f"答{i}", "label": f"标{i}"}, ensure_ascii=False)
             for i in range(5)]
    lines.insert(2, "{torn")
    (tmp_path / "generated_predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    page = read_predictions(tmp_path, 1, 3)
    assert [p.index for p in page] == [1, 2, 3]
    assert page[0].predict == "答1" and "unreadable" in page[1].prompt and page[2].label == "标2"
    (tmp_path / "predict_results.json").write_text("[1]")
    with pytest.raises(MedtuiError, match="expected a JSON object"):
        read_metrics(tmp_path)


# -- the worker without a model -----------------------------------------------------------------
def test_worker_answers_bad_requests_without_dying():
    client = ChatClient().start(timeout=60)
    try:
        with pytest.raises(WorkerError) as err:
            client.reply([{"role": "user", "content": "你好"}], timeout=30)
        assert err.value.kind == "not_loaded"
        client._send({"op": "dance", "id": "x"})
        with pytest.raises(WorkerError) as err:
            client._wait("x", ("done",), 30)
        assert err.value.kind == "bad_request" and "unknown op" in str(err.value)
        client.proc.stdin.write(b"{not json\n")
        client.proc.stdin.flush()
        with pytest.raises(WorkerError) as err:
            client._wait(None, ("done",), 30)
        assert err.value.kind == "bad_request"
        client._send({"op": "load", "id": "y"})
        with pytest.raises(WorkerError, match="needs a model path"):
            client._wait("y", ("loaded",), 30)
        client.unload(timeout=30)  # nothing loaded: still answered
        assert client.alive
    finally:
        client.close()
    assert not client.alive


def test_reload_without_a_model_is_a_clear_error():
    with pytest.raises(WorkerError, match="nothing to reload"):
        ChatClient().reload()


# -- the UI process never imports torch ---------------------------------------------------------
def test_screens_and_cli_do_not_import_heavy_libraries():
    code = ("import sys\n"
            "import medtui.tui.screens.chat.screen, medtui.tui.screens.export, medtui.tui.screens.predict\n"
            "import medtui.cli.chat_cmd, medtui.cli.predict_cmd, medtui.core.chat.verify\n"
            "heavy = [m for m in ('torch', 'transformers', 'llamafactory', 'trl', 'peft', 'datasets')"
            " if m in sys.modules]\n"
            "print(heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
