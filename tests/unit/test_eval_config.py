"""Evaluate and predict configs: do_eval runs, sampling settings, the inference backend's route."""

from __future__ import annotations

import json
import math

import pytest

from medtui.core.chat.models import ModelSource
from medtui.core.errors import MedtuiError
from medtui.core.predict import evaluate_config, format_eval_metrics, predict_config, read_eval_metrics
from medtui.core.stages import preflight
from medtui.core.stages.builder import build_plan
from medtui.core.stages.validate import validate
from medtui.core.workspace import Workspace

SOURCE = ModelSource("/m")


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    ws.ensure_layout()
    return ws


def test_evaluate_runs_do_eval_without_training(ws):
    config = evaluate_config(SOURCE, "d", template="default", output_dir="saves/eval/x", stage="pt", cutoff_len=16)
    assert validate(config) == []
    plan = build_plan(config, ws)
    body = plan.yaml_config
    assert plan.kind == "evaluate" and body["do_train"] is False and body["do_eval"] is True
    assert body["eval_dataset"] == "d" and "eval_strategy" not in body and body["cutoff_len"] == 16
    assert plan.argv[1] == "train"
    with pytest.raises(MedtuiError, match="pt or sft"):
        evaluate_config(SOURCE, "d", template="default", output_dir="o", stage="dpo")
    nothing = validate({"stage": "sft", "do_train": False, "model_name_or_path": "m", "output_dir": "o",
                        "eval_dataset": "d"})
    assert [p.field for p in nothing] == ["do_train"] and "do_eval" in nothing[0].message


def test_eval_metrics_add_perplexity(tmp_path):
    (tmp_path / "eval_results.json").write_text(json.dumps({"eval_loss": 2.0, "eval_runtime": 1.5}))
    metrics = read_eval_metrics(tmp_path)
    assert metrics["loss"] == 2.0 and metrics["perplexity"] == pytest.approx(math.exp(2.0))
    assert format_eval_metrics(metrics).startswith("loss 2.0000  perplexity 7.39")
    assert read_eval_metrics(tmp_path / "missing") == {}


def test_predict_sampling_and_backend_route(ws):
    config = predict_config(SOURCE, "d", template="default", output_dir="o", temperature=0.7, top_p=0.8,
                            max_new_tokens=64, backend="vllm")
    assert (config["do_sample"], config["temperature"], config["top_p"], config["infer_backend"]) == (
        True, 0.7, 0.8, "vllm")
    plan = build_plan(config, ws)
    assert plan.kind == "predict" and plan.argv[1:3] == ["-m", "medtui.workers.predict_engine"]
    assert plan.yaml_config["max_new_tokens"] == 64
    greedy = predict_config(SOURCE, "d", template="default", output_dir="o", top_p=0.8)
    assert greedy["do_sample"] is False and "top_p" not in greedy and "infer_backend" not in greedy
    assert build_plan(greedy, ws).argv[1] == "train"


def test_engine_backend_needs_its_package_and_is_refused_for_training(ws):
    plan = build_plan(predict_config(SOURCE, "d", template="default", output_dir="o", backend="sglang"), ws)
    problems = preflight._check_engine("sglang")
    assert problems and "sglang is not installed" in problems[0].message  # not on this CPU box
    train = validate({"stage": "sft", "model_name_or_path": "m", "dataset": "d", "output_dir": "o",
                      "infer_backend": "vllm"})
    assert [p.field for p in train] == ["infer_backend"]
    assert plan.yaml_config["infer_backend"] == "sglang"


def test_ppo_keeps_its_sampling_defaults_and_sft_gets_none(ws):
    sft = build_plan({"stage": "sft", "model_name_or_path": "m", "dataset": "d", "output_dir": "o"}, ws).yaml_config
    assert "max_new_tokens" not in sft and "top_p" not in sft
    ppo = build_plan({"stage": "ppo", "model_name_or_path": "m", "dataset": "d", "output_dir": "o",
                      "reward_model": "r"}, ws).yaml_config
    assert (ppo["max_new_tokens"], ppo["top_p"]) == (32, 1.0)
