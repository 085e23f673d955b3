"""Pilot tests of the app shell, Home and the Train form, on real demo workspaces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medtui.core.lifecycle.pipeline import load_pipeline
from medtui.core.lifecycle.wiring import latest_outputs
from medtui.core.runs.records import list_runs
from medtui.core.workspace import Workspace
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.screens.home import HomeScreen, StageNode
from medtui.tui.screens.train.fields import FieldRow
from medtui.tui.screens.train.screen import TrainScreen
from medtui.tui.widgets.dialogs import ChoiceScreen
from tests.tui_helpers import wait_until

SIZE = (100, 40)


@pytest.fixture
def settings_file(tmp_path) -> Path:
    return tmp_path / "config" / "medtui" / "config.json"


def make_app(ws: Workspace, settings_file: Path, lang: str | None = "en") -> MedtuiApp:
    return MedtuiApp(ws, lang=lang, settings_path=settings_file)


async def open_stage(pilot, app: MedtuiApp, stage: str) -> TrainScreen:
    """Focus a Home node, press Enter, and wait for the Train form of that stage."""
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
    app.screen.query_one(f"#node-{stage}", StageNode).focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen.state.stage == stage
                     and app.screen.state.values.get("output_dir") is not None, what=f"the {stage} form")
    return app.screen


def row(screen: TrainScreen, name: str) -> FieldRow:
    return screen.query_one(f"#row-{name}", FieldRow)


async def test_enter_on_a_home_node_prefills_from_lifecycle_wiring(trained_ws, settings_file):
    """trained_ws is shared read-only: opening forms writes nothing to it."""
    before = sorted(p.name for p in trained_ws.runs_dir.iterdir())
    produced = latest_outputs(list_runs(trained_ws.runs_dir))
    log = produced["sft"].output_dir + "/trainer_log.jsonl"
    last_loss = [json.loads(line) for line in Path(log).read_text().splitlines() if "loss" in line][-1]["loss"]
    app = make_app(trained_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.summaries, what="summaries")
        sft_node = app.screen.query_one("#node-sft", StageNode)
        assert sft_node.summary.status == "succeeded"
        assert f"{last_loss:.4f}" in str(sft_node.render())
        assert "saves/workflow-demo/full/sft" in str(sft_node.render())

        screen = await open_stage(pilot, app, "sft")
        assert screen.state.values["model_name_or_path"] == produced["pt"].output_dir  # PT (full) → SFT

        await pilot.press("f1")
        screen = await open_stage(pilot, app, "dpo")
        assert screen.state.values["model_name_or_path"] == produced["sft"].output_dir  # SFT (full) → DPO
        assert row(screen, "model_name_or_path").value == produced["sft"].output_dir

        await pilot.press("f1")
        screen = await open_stage(pilot, app, "ppo")
        assert screen.state.values["reward_model"] == produced["rm"].output_dir  # RM → PPO's reward model

        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        app.screen.query_one("#node-export", StageNode).focus()
        await pilot.press("enter")
        # PPO, DPO and KTO all succeeded: Home asks which branch to merge instead of picking PPO silently
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the branch question")
        assert [value for _, value in app.screen.options] == ["ppo", "dpo", "kto"]
        app.screen.query_one("#choices").highlighted = 2
        app.screen.query_one("#choices").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen.state.stage == "export",
                         what="the export form")
        adapters = app.screen.state.values["adapter_name_or_path"]
        assert adapters.endswith(produced["kto"].output_dir)
    assert sorted(p.name for p in trained_ws.runs_dir.iterdir()) == before


EXAMPLE = """\
### model
model_name_or_path: Qwen/Qwen3-4B-Instruct-2507
trust_remote_code: true

### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all

### dataset
dataset: identity,alpaca_en_demo
template: qwen3_nothink
cutoff_len: 2048
max_samples: 1000
overwrite_cache: true
preprocessing_num_workers: 16
dataloader_num_workers: 4

### output
output_dir: saves/qwen3-4b/lora/sft
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true
save_only_model: false
report_to: none  # choices: [none, wandb, tensorboard, swanlab, mlflow]

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
resume_from_checkpoint: null

### eval
# eval_dataset: alpaca_en_demo
# val_size: 0.1
"""


async def test_queue_on_a_finished_workspace_has_nothing_to_do(trained_ws, settings_file):
    before = sorted(p.name for p in trained_ws.runs_dir.iterdir())
    app = make_app(trained_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await pilot.press("p")
        await wait_until(pilot, lambda: any("nothing to queue" in n.message for n in app._notifications),
                         what="the all-done notice")
    assert sorted(p.name for p in trained_ws.runs_dir.iterdir()) == before


async def test_queue_runs_the_remaining_stage_like_medtui_pipeline(trained_ws, tmp_path, settings_file):
    """A copy of the trained workspace (runs included) without its export run: p queues export only."""
    root = tmp_path / "ws"
    shutil.copytree(trained_ws.root, root)
    ws = Workspace.open(root)
    for run in list_runs(ws.runs_dir):
        if run.stage == "export":
            shutil.rmtree(run.run_dir)
    shutil.rmtree(ws.root / "saves" / "workflow-demo" / "export")  # the copy's export (records point at the original)
    app = make_app(ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert "export" in str(app.screen.query_one("#confirm-question").render())
        await pilot.press("y")
        await wait_until(pilot, lambda: any(n.message.startswith("Pipeline demo finished") or "stopped at" in n.message
                                            for n in app._notifications), timeout=240, what="the pipeline to end")
        assert any(n.message.startswith("Pipeline demo finished") for n in app._notifications), \
            [n.message for n in app._notifications]
        await wait_until(pilot, lambda: app.screen.summaries.get("export") and
                         app.screen.summaries["export"].status == "succeeded", what="Home to show the export")
    exports = [r for r in list_runs(ws.runs_dir) if r.stage == "export"]
    expected = [s for s in load_pipeline("demo").stages if s.stage == "export"]
    assert [r.status for r in exports] == ["succeeded"] * len(expected)
    assert {r.record["pipeline"] for r in exports} == {"demo"}
    assert (ws.root / "saves/workflow-demo/export/dpo-merged/config.json").is_file()


