"""Real evaluation on the demo model: a benchmark in the CMMLU layout, loss/perplexity of a dataset,
and a saved YAML that plain ``llamafactory-cli`` trains (with held-out data evaluated)."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import pytest
from conftest import medtui_cli

from medtui.core import benchmark
from medtui.core.demo import DEMO_MODEL
from medtui.core.stages.builder import llamafactory_cli
from medtui.core.stages.saved import standalone

MODEL = f"models/{DEMO_MODEL}"
QUESTIONS = [("高血压的危害?", "A"), ("感冒的症状?", "B"), ("头痛怎么办?", "C"), ("发烧怎么办?", "D"), ("咳嗽吃什么药?", "A")]


def _tiny_cmmlu(folder):
    rows = {}
    for subject in ("clinical_knowledge", "arts"):
        test = [{"Question": f"{q}({subject})", "A": "多喝水", "B": "多休息", "C": "去医院", "D": "吃药", "Answer": a}
                for q, a in QUESTIONS]
        rows[subject] = {"test": test, "train": test[:2]}
    benchmark.write_task(folder, {"clinical_knowledge": {"name": "临床知识", "category": "Other"},
                                  "arts": {"name": "艺术学", "category": "Humanities"}}, rows)


def test_benchmark_runs_llamafactorys_evaluator_with_progress_and_subject_table(demo_ws):
    _tiny_cmmlu(demo_ws.root / "evaluation" / "cmmlu")
    proc = medtui_cli("eval", MODEL, "--task", "cmmlu", "--n-shot", "1", "--batch-size", "2", "--out",
                      "saves/eval/bench", "--workspace", str(demo_ws.root), timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "(cmmlu, 2 subject(s))" in proc.stdout and "step 2/2" in proc.stdout
    table = proc.stdout[proc.stdout.index("SUBJECT"):].splitlines()
    assert table[1].startswith("clinical_knowledge") and "(medical)" in table[1] and "/5" in table[1]
    assert table[2].startswith("arts") and table[3].startswith("average")
    out = demo_ws.root / "saves/eval/bench"
    progress = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert [p["current_steps"] for p in progress] == [0, 1, 2] and {p["total_steps"] for p in progress} == {2}
    assert progress[0]["subject"] == "clinical_knowledge"
    results = benchmark.read_results(out)
    log = (out / "results" / "results.log").read_text()  # llamafactory's own summary
    average = float(re.search(r"Average:\s*([\d.]+)", log).group(1))
    assert results["average"] == pytest.approx(average, abs=0.01)
    assert sum(s["total"] for s in results["subjects"]) == 10
    shown = medtui_cli("eval", "--show", "saves/eval/bench", "--workspace", str(demo_ws.root))
    assert shown.returncode == 0 and "clinical_knowledge" in shown.stdout
    runs = json.loads(medtui_cli("runs", "--json", "--workspace", str(demo_ws.root)).stdout)
    assert (runs[0]["stage"], runs[0]["kind"], runs[0]["status"]) == ("eval", "benchmark", "succeeded")


def test_evaluate_mode_reports_loss_and_perplexity(demo_ws):
    proc = medtui_cli("eval", MODEL, "--dataset", "demo_sft_train_data", "--cutoff-len", "64", "--out",
                      "saves/eval/loss", "--workspace", str(demo_ws.root), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    match = re.search(r"loss ([\d.]+)\s+perplexity ([\d.]+)", proc.stdout)
    assert match, proc.stdout
    loss, ppl = float(match.group(1)), float(match.group(2))
    assert ppl == pytest.approx(math.exp(loss), rel=1e-3)
    out = demo_ws.root / "saves/eval/loss"
    assert json.loads((out / "eval_results.json").read_text())["eval_loss"] == pytest.approx(loss, abs=1e-4)
    assert not (out / "model.safetensors").exists()  # nothing was trained
    run = json.loads(next((demo_ws.root / ".medtui/runs").glob("*/run.json")).read_text())
    assert run["kind"] == "evaluate" and run["config"]["do_eval"] is True and run["config"]["do_train"] is False


def test_saved_yaml_trains_under_plain_llamafactory_cli(demo_ws):
    config = {"stage": "sft", "finetuning_type": "full", "model_name_or_path": MODEL,
              "dataset": "demo_sft_train_data", "output_dir": "saves/workflow-demo/full/sft-saved",
              "template": "default", "cutoff_len": 64, "per_device_train_batch_size": 4,
              "gradient_accumulation_steps": 1, "num_train_epochs": 1.0, "learning_rate": 1e-3, "logging_steps": 1,
              "save_steps": 2, "preprocessing_num_workers": 1, "val_size": 0.2, "lora_rank": 4, "bf16": False}
    saved = standalone(config, demo_ws, "configs/sft.yaml")
    saved.write()
    text = (demo_ws.root / "configs/sft.yaml").read_text()
    assert "lora_rank" not in text and "do_train: true" in text and "dataset_dir: data" in text
    proc = subprocess.run([llamafactory_cli(), "train", "configs/sft.yaml"], cwd=demo_ws.root, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = demo_ws.root / "saves/workflow-demo/full/sft-saved"
    assert (out / "model.safetensors").is_file()
    records = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert any("eval_loss" in r for r in records) and any("loss" in r for r in records)


def test_engine_predict_worker_writes_what_llamafactorys_predict_writes(demo_ws):
    """The worker vllm/sglang predict runs go through, here on llamafactory's huggingface engine (no GPU)."""
    import sys

    from medtui.core.chat.models import ModelSource
    from medtui.core.predict import METRICS, predict_config, read_metrics, read_predictions
    from medtui.core.stages.builder import build_plan

    config = predict_config(ModelSource(str(demo_ws.root / MODEL)), "demo_sft_train_data", template="default",
                            output_dir="saves/predict/engine", max_samples=6, max_new_tokens=8, temperature=0.7,
                            top_p=0.9, backend="vllm")
    plan = build_plan(config, demo_ws)
    assert plan.argv[1:3] == ["-m", "medtui.workers.predict_engine"]
    plan.yaml_config["infer_backend"] = "huggingface"  # the engine is llamafactory's concern; the worker is ours
    plan.write_files()
    proc = subprocess.run([sys.executable, "-m", "medtui.workers.predict_engine", str(plan.yaml_path)],
                          capture_output=True, text=True, timeout=900, env={**__import__("os").environ,
                                                                            "PYTHONPATH": str(Path(__file__).parents[2])})
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = read_metrics(plan.output_dir)
    assert {key for key, _ in METRICS} <= set(metrics) and metrics["samples_per_second"] > 0
    predictions = read_predictions(plan.output_dir)
    assert len(predictions) == 6 and predictions[0].prompt.startswith("Human: ") and predictions[0].label
    progress = [json.loads(line) for line in (plan.output_dir / "trainer_log.jsonl").read_text().splitlines()]
    assert progress[-1]["current_steps"] == progress[-1]["total_steps"] == 6


async def test_val_size_sft_writes_eval_loss_and_the_monitor_charts_it(demo_ws, tmp_path):
    """A demo SFT with val_size 0.2: the builder turns on evaluation, eval_loss reaches trainer_log.jsonl, and
    the Monitor (opened in the real app) plots it next to the training loss."""
    from medtui.core.lifecycle.pipeline import load_pipeline
    from medtui.core.runs import runner
    from medtui.core.stages.launch import launch
    from medtui.tui.app import MedtuiApp
    from medtui.tui.screens.runs.monitor import MonitorScreen
    from tests.tui_helpers import wait_until

    demo = load_pipeline("demo")
    sft = next(s for s in demo.stages if s.stage == "sft")
    config = {**demo.defaults, **sft.config, "stage": "sft", "model_name_or_path": MODEL, "val_size": 0.2,
              "save_steps": 2, "num_train_epochs": 2.0, "output_dir": "saves/workflow-demo/full/sft-eval"}
    run = runner.wait(launch(config, demo_ws), timeout=900)
    assert run.status == "succeeded", run.reason()
    assert (run.record["config"]["eval_strategy"], run.record["config"]["eval_steps"]) == ("steps", 2)
    records = [json.loads(line) for line in run.trainer_log.read_text().splitlines()]
    evals = [r for r in records if "eval_loss" in r]
    assert len(evals) >= 2 and all(math.isfinite(r["eval_loss"]) for r in evals)

    app = MedtuiApp(demo_ws, lang="en", settings_path=tmp_path / "config.json")
    async with app.run_test(size=(100, 40)) as pilot:
        await app.open_run(run.id)
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen)
                         and app.screen.charts.plotted.get("eval_loss") == len(evals), timeout=60,
                         what="eval_loss plotted")
        assert app.screen.charts.plotted.get("loss", 0) > len(evals)


async def test_predict_screen_evaluates_loss_and_perplexity(demo_ws, tmp_path):
    """Evaluate mode in the real app: no training, the metrics line shows loss and perplexity."""
    from textual.widgets import Input, Select

    from medtui.tui.app import MedtuiApp
    from medtui.tui.screens.predict import PredictScreen
    from tests.tui_helpers import wait_until

    app = MedtuiApp(demo_ws, lang="en", settings_path=tmp_path / "config.json")
    async with app.run_test(size=(100, 40)) as pilot:
        app.action_open_predict()
        await wait_until(pilot, lambda: isinstance(app.screen, PredictScreen) and app.screen.sources, what="Predict")
        screen = app.screen
        screen.query_one("#mode", Select).value = "evaluate"
        await pilot.pause()
        assert screen.has_class("-evaluate") and not screen.query_one("#temperature", Input).display
        screen.query_one("#model", Select).value = next(iter(screen.sources))
        screen.query_one("#dataset", Select).value = "demo_sft_train_data"
        screen.query_one("#max-samples", Input).value = "8"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.state in ("succeeded", "failed"), timeout=600, what="the evaluate run")
        assert screen.state == "succeeded", str(screen.query_one("#predict-status").render())
        metrics = str(screen.query_one("#predict-metrics").render())
        loss, ppl = (float(x) for x in re.search(r"loss ([\d.]+)\s+perplexity ([\d.]+)", metrics).groups())
        assert ppl == pytest.approx(math.exp(loss), rel=1e-3)
        assert screen.run.record["kind"] == "evaluate"
