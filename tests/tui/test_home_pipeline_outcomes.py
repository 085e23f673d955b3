"""In the real MedtuiApp: Home asks which branch Export merges when several succeeded and its card
says which one an export took; Home's status line follows a pipeline run (started anywhere) and
notifies its stage ends; the Monitor of a finished predict, export or pipeline run shows what it
produced instead of an empty loss chart. (Fake run folders: these test how runs are shown; real
pipelines and stops are in tests/e2e/test_pipeline_detached_e2e.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from medtui.core.runs.records import write_record
from medtui.core.workspace import Workspace
from medtui.tui.app import MedtuiApp
from medtui.tui.i18n import text_of
from medtui.tui.screens.home import HomeScreen, StageNode
from medtui.tui.screens.runs.monitor import MonitorScreen
from medtui.tui.screens.train.screen import TrainScreen
from medtui.tui.widgets.dialogs import ChoiceScreen
from tests.tui_helpers import make_run, wait_until

SIZE = (100, 40)
NOW = time.time()


@pytest.fixture
def ws(demo_template, tmp_path) -> Workspace:
    from tests.conftest import copy_ws

    return copy_ws(demo_template, tmp_path / "ws")


def app_for(ws: Workspace, tmp_path: Path) -> MedtuiApp:
    return MedtuiApp(ws, lang="en", settings_path=tmp_path / "settings.json")


def adapter_run(ws: Workspace, stage: str, started: float) -> Path:
    """A succeeded LoRA run of ``stage`` built on the demo model, with an adapter in its output folder."""
    run_dir = make_run(ws, f"20261128-1{started % 100000:05.0f}-{stage}-{stage}00"[:28], stage=stage,
                       started=started, output=f"demo/lora/{stage}")
    record = json.loads((run_dir / "run.json").read_text())
    record["config"] = {"stage": stage, "finetuning_type": "lora", "template": "default",
                        "model_name_or_path": str(ws.models_dir / "workflow-demo-tiny-qwen2")}
    write_record(run_dir, record)
    (Path(record["output_dir"]) / "adapter_config.json").write_text("{}")
    return Path(record["output_dir"])


async def test_export_from_home_asks_which_branch_and_the_card_says_which(ws, tmp_path):
    outputs = {stage: adapter_run(ws, stage, NOW - 3000 + i * 100) for i, stage in enumerate(("ppo", "dpo", "kto"))}
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        app.screen.query_one("#node-export", StageNode).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the branch question")
        assert [value for _, value in app.screen.options] == ["ppo", "dpo", "kto"]
        labels = [label for label, _ in app.screen.options]  # each branch names the folder it would merge
        assert all(f"lora/{stage}" in label for label, stage in zip(labels, ("ppo", "dpo", "kto"))), labels
        assert "merge which branch" in text_of(app.screen.title_text, app.lang)  # a Phrase: it follows ctrl+t
        app.screen.query_one("#choices").highlighted = 1
        app.screen.query_one("#choices").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen)
                         and app.screen.state.values.get("adapter_name_or_path"), what="the export form")
        values = app.screen.state.values
        assert str(values["adapter_name_or_path"]).endswith("demo/lora/dpo")  # not PPO, picked silently before
        assert "export-dpo" in str(values["export_dir"])

    # an export of the KTO adapter: the card says so
    export_dir = make_run(ws, "20261128-235900-export-eeee", stage="export", started=NOW - 60)
    record = json.loads((export_dir / "run.json").read_text())
    record.update(kind="export", config={"model_name_or_path": str(ws.models_dir / "workflow-demo-tiny-qwen2"),
                                         "adapter_name_or_path": str(outputs["kto"]), "export_dir": "x"})
    write_record(export_dir, record)
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.summaries.get("export")
                         and app.screen.summaries["export"].run_id, what="the export card")
        assert app.screen.summaries["export"].branch == "kto"
        node = app.screen.query_one("#node-export", StageNode)
        assert "merged KTO" in str(node.render())


async def test_export_with_one_branch_asks_nothing(ws, tmp_path):
    adapter_run(ws, "dpo", NOW - 3000)
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        app.screen.query_one("#node-export", StageNode).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen)
                         and app.screen.state.values.get("adapter_name_or_path"), what="the export form")
        assert str(app.screen.state.values["adapter_name_or_path"]).endswith("demo/lora/dpo")


def pipeline_run(ws: Workspace, stages: list[tuple[str, str, str | None]], *, status: str = "running") -> Path:
    """A pipeline run folder as the chain leaves it; ``running`` ties it to this test process."""
    run_dir = make_run(ws, "20261128-230000-pipeline-abcd", stage="pipeline", status=status, started=NOW - 120)
    record = json.loads((run_dir / "run.json").read_text())
    record.update(kind="pipeline", output_dir=str(run_dir), pipeline_spec={"name": "demo", "ref": "demo"})
    write_record(run_dir, record)
    (run_dir / "pipeline.json").write_text(json.dumps({"name": "demo", "ref": "demo", "stages": [
        {"name": n, "stage": n, "status": s, "run_id": r, "reason": ""} for n, s, r in stages]}))
    return run_dir


async def test_home_follows_a_pipeline_run_and_notifies_its_stage_ends(ws, tmp_path):
    run_dir = pipeline_run(ws, [("pt", "succeeded", "r1"), ("sft", "running", "r2"), ("rm", "pending", None)])
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.queue_status,
                         what="the pipeline status line")
        home = app.screen
        assert home.queue_status == "▶ pipeline demo: sft running, 1/3 done (pipeline-abcd; goes on after you quit)"
        state = json.loads((run_dir / "pipeline.json").read_text())
        state["stages"][1]["status"] = "succeeded"
        state["stages"][2].update(status="running", run_id="r3")
        (run_dir / "pipeline.json").write_text(json.dumps(state))
        home.refresh_overview()
        await wait_until(pilot, lambda: "rm running, 2/3" in home.queue_status, what="the next stage")
        assert any(n.message == "Pipeline demo: stage sft succeeded" for n in app._notifications)
        state["stages"][2]["status"] = "succeeded"
        (run_dir / "pipeline.json").write_text(json.dumps(state))
        record = json.loads((run_dir / "run.json").read_text())
        record.update(status="succeeded", ended=time.time(), exit_code=0)
        write_record(run_dir, record)
        home.refresh_overview()
        await wait_until(pilot, lambda: any(n.message.startswith("Pipeline demo finished: 3 stage(s)")
                                            for n in app._notifications), what="the end")
        assert home.queue_status == ""


def finished(ws: Workspace, run_id: str, kind: str, stage: str, output: Path, config: dict | None = None) -> None:
    run_dir = make_run(ws, run_id, stage=stage, started=NOW - 600, steps=0, total=0, output=str(output))
    record = json.loads((run_dir / "run.json").read_text())
    record.update(kind=kind, config=config or {})
    write_record(run_dir, record)
    (Path(record["output_dir"]) / "trainer_log.jsonl").unlink()


async def open_monitor(app: MedtuiApp, pilot, run_id: str) -> MonitorScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
    await app.open_run(run_id)
    await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.outcome is not None,
                     what="the outcome")
    return app.screen


async def test_a_finished_predict_run_shows_its_metrics_not_an_empty_chart(ws, tmp_path):
    out = ws.saves_dir / "predict" / "p1"
    out.mkdir(parents=True)
    (out / "predict_results.json").write_text(json.dumps({"predict_bleu-4": 12.5, "predict_rouge-1": 30.25,
                                                          "predict_rouge-2": 10.0, "predict_rouge-l": 20.0}))
    (out / "generated_predictions.jsonl").write_text("".join(
        json.dumps({"prompt": f"q{i}", "predict": "a", "label": "b"}) + "\n" for i in range(7)))
    finished(ws, "20261128-220000-sft-pred", "predict", "sft", out.relative_to(ws.saves_dir),
             {"do_train": False, "do_predict": True})
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(app, pilot, "20261128-220000-sft-pred")
        await pilot.pause(0.3)
        text = str(screen.query_one("#outcome").render())
        assert "Predictions" in text and "BLEU-4 12.50" in text and "ROUGE-1 30.25" in text
        assert "7 predictions" in text
        assert screen.has_class("-outcome") and not screen.query_one("#charts").display
        assert "waiting for the first trainer log line" not in str(screen.query_one("#progress-text").render())


async def test_a_finished_export_run_shows_the_exported_folder(ws, tmp_path):
    out = ws.saves_dir / "exported"
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], "torch_dtype": "float32"}))
    (out / "model.safetensors").write_bytes(b"\0" * 2048)
    finished(ws, "20261128-220000-export-expo", "export", "export", out.relative_to(ws.saves_dir),
             {"adapter_name_or_path": "/x/dpo"})
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(app, pilot, "20261128-220000-export-expo")
        await pilot.pause(0.3)
        text = str(screen.query_one("#outcome").render())
        assert "Exported model" in text and str(out) in text and "Qwen2ForCausalLM" in text
        assert "weights: model.safetensors" in text and "merged: /x/dpo" in text
        assert "an export run (no training steps)" in str(screen.query_one("#progress-text").render())


async def test_a_pipeline_run_monitor_lists_its_stages(ws, tmp_path):
    pipeline_run(ws, [("pt", "succeeded", "r1"), ("sft", "failed", "r2")], status="failed")
    app = app_for(ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(app, pilot, "20261128-230000-pipeline-abcd")
        await pilot.pause(0.3)
        text = str(screen.query_one("#outcome").render())
        assert "Pipeline stages" in text and "pt: succeeded (r1)" in text and "sft: failed (r2)" in text
