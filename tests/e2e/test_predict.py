"""Batch predict for real on the demo SFT set (one run for the module): metrics from the CLI, the
results in the Predict screen, and the CLI's bad inputs."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import medtui_cli as medtui_cli_env
from textual.app import App
from textual.widgets import DataTable

from medtui.core.predict import read_metrics, read_predictions
from medtui.core.runs.records import list_runs
from medtui.core.workspace import Workspace
from medtui.tui.screens.predict import PredictScreen

pytestmark = pytest.mark.e2e
OUT = "saves/predict/demo"


@pytest.fixture(scope="module")
def predicted(trained_ws, tmp_path_factory):
    """A copy of the trained workspace after ``medtui predict`` (DPO adapter on the SFT model)."""
    root = tmp_path_factory.mktemp("predict") / "ws"
    shutil.copytree(trained_ws.root, root, ignore=shutil.ignore_patterns(".medtui"))
    ws = Workspace.open(root)
    proc = medtui_cli_env("predict", "saves/workflow-demo/lora/dpo", "--dataset", "demo_sft_train_data",
                          "--max-samples", "4", "--max-new-tokens", "8", "--out", OUT, "--limit", "2",
                          "-w", str(root))
    return ws, proc


def test_predict_cli_produces_metrics_and_predictions(predicted):
    ws, proc = predicted
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = ws.resolve(OUT)
    metrics = read_metrics(out)
    for key in ("bleu-4", "rouge-1", "rouge-2", "rouge-l"):
        assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 100.0
    assert "BLEU-4" in proc.stdout and "ROUGE-L" in proc.stdout and "#2" in proc.stdout and "#3" not in proc.stdout
    predictions = read_predictions(out)
    assert len(predictions) == 4
    assert all(p.prompt and p.label for p in predictions)
    [run] = list_runs(ws.runs_dir)
    assert run.record["kind"] == "predict" and run.status == "succeeded"
    config = run.record["config"]
    assert config["do_train"] is False and config["do_predict"] is True and config["finetuning_type"] == "lora"
    assert config["adapter_name_or_path"].endswith("saves/workflow-demo/lora/dpo")
    shown = medtui_cli_env("predict", "--show", OUT, "--json", "-w", str(ws.root))
    assert shown.returncode == 0 and json.loads(shown.stdout)["bleu-4"] == metrics["bleu-4"]


async def test_predict_screen_shows_the_results(predicted):
    ws, proc = predicted
    assert proc.returncode == 0
    screen = PredictScreen(ws)  # opens on the workspace's latest predict run

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(screen)

    async with Host().run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        metrics = str(screen.query_one("#predict-metrics").render())
        assert "BLEU-4" in metrics and "ROUGE-1" in metrics and "ROUGE-L" in metrics
        table = screen.query_one("#predictions", DataTable)
        assert table.row_count == 4
        first = read_predictions(ws.resolve(OUT), 0, 2)
        assert first[0].label in str(screen.query_one("#prediction-detail").render())
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert first[1].label in str(screen.query_one("#prediction-detail").render())


@pytest.mark.parametrize("args, message", [
    (("sft",), "needs MODEL and --dataset"),
    (("saves/workflow-demo/full/sft", "--dataset", "no_such_set"), "not registered"),
    (("saves/workflow-demo/full/sft", "--dataset", "custom_rlhf_train_data"), "ranking"),
    (("no/such/model", "--dataset", "demo_sft_train_data"), "model folder not found"),
    (("saves/workflow-demo/full/sft", "--dataset", "demo_sft_train_data", "--max-samples", "0"), "at least 1"),
    (("--show", "saves/workflow-demo/full/sft"), "no "),
])
def test_predict_cli_bad_inputs(trained_ws, args, message):
    proc = medtui_cli_env("predict", *args, "-w", str(trained_ws.root))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
