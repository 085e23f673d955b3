"""Pilot tests of the app shell, Home and the Train form, on real demo workspaces."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from medtui.core.lifecycle.prefill import prefill
from medtui.core.runs.records import list_runs
from medtui.core.settings import load_settings
from medtui.core.stages.builder import build_plan, load_config_file
from medtui.core.workspace import Workspace
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.home import HomeScreen, StageNode
from medtui.tui.screens.train.fields import FieldRow
from medtui.tui.screens.train.screen import TrainScreen
from medtui.tui.widgets.dialogs import ChoiceScreen, MultiChoiceScreen, PathScreen, PreviewScreen
from tests.tui_helpers import type_into, wait_until

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


async def test_command_palette_opens_a_screen(demo_ws, settings_file):
    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Go to Train")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_mode == "train", what="Train from the palette")


async def test_home_sft_form_preview_shows_the_exact_argv(demo_ws, settings_file):
    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(pilot, app, "sft")
        await type_into(pilot, row(screen, "cutoff_len").control, "32")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), what="the preview")
        shown = app.screen.query_one("#preview-text").text
        run_id = screen.preview_plan.run_id
        form_config = screen.current_config()
        await pilot.press("escape")

    assert shown == build_plan(form_config, demo_ws, run_id=run_id).preview()
    # the same config built independently: prefill wiring plus the edit
    plan = build_plan({**prefill(demo_ws, "sft"), "cutoff_len": "32"}, demo_ws, run_id=run_id)
    assert plan.argv[1:] == ["train", str(demo_ws.runs_dir / run_id / "config.yaml")]
    assert shlex.join(plan.argv) in shown.splitlines()[1]
    assert plan.command_line() == shown.splitlines()[1]
    assert yaml.safe_load(shown.split(f"# {plan.yaml_path}\n", 1)[1]) == plan.yaml_config
    assert plan.yaml_config["cutoff_len"] == 32
    assert not demo_ws.runs_dir.exists() or not any(demo_ws.runs_dir.iterdir())  # a preview starts nothing


async def test_invalid_input_shows_inline_errors_and_starts_nothing(demo_ws, settings_file):
    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(pilot, app, "sft")
        assert row(screen, "cutoff_len").problem == ""
        await type_into(pilot, row(screen, "cutoff_len").control, "abc")
        assert "whole number" in row(screen, "cutoff_len").problem
        assert row(screen, "cutoff_len").has_class("-invalid")
        await type_into(pilot, row(screen, "model_name_or_path").control, "")
        assert row(screen, "model_name_or_path").problem == "is required"
        await pilot.press("ctrl+r")
        await pilot.pause(1.0)
        assert isinstance(app.screen, TrainScreen)
        await type_into(pilot, row(screen, "cutoff_len").control, "64")
        assert row(screen, "cutoff_len").problem == ""
    assert not demo_ws.runs_dir.exists() or list(demo_ws.runs_dir.iterdir()) == []
    assert not (demo_ws.saves_dir / "workflow-demo").exists()


async def test_preflight_problems_show_next_to_the_field(demo_ws, settings_file):
    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(pilot, app, "dpo")
        # a plain (non-ranking) dataset cannot train dpo: the field is fine, the pre-flight is not
        await type_into(pilot, row(screen, "dataset").control, "demo_sft_train_data")
        assert row(screen, "dataset").problem == ""
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "ranking" in row(screen, "dataset").problem, what="pre-flight problem")
    assert list(demo_ws.runs_dir.iterdir()) == [] if demo_ws.runs_dir.exists() else True


async def test_start_runs_preflight_and_opens_the_run(demo_ws, settings_file):
    from medtui.core.runs import runner

    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(pilot, app, "sft")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), what="the preview")
        previewed = screen.preview_plan.run_id
        await pilot.press("ctrl+r")  # start exactly what was previewed
        await wait_until(pilot, lambda: app.current_mode == "runs", timeout=60, what="the run's screen")
        runs = list_runs(demo_ws.runs_dir)
    assert [r.id for r in runs] == [previewed]
    final = runner.stop(runs[0], kill=True)
    assert final.status in ("killed", "failed", "succeeded")


async def test_pickers_offer_compatible_datasets_and_workspace_folders(demo_ws, settings_file):
    from textual.widgets import OptionList, SelectionList

    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(pilot, app, "kto")
        await type_into(pilot, row(screen, "dataset").control, "")
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, MultiChoiceScreen), what="the dataset picker")
        assert [value for _, value in app.screen.options] == ["demo_kto_train_data"]  # kto needs kto_tag
        app.screen.query_one(SelectionList).focus()
        await pilot.press("space", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="the form")
        assert row(screen, "dataset").value == "demo_kto_train_data"

        row(screen, "model_name_or_path").control.focus()
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the model picker")
        values = [value for _, value in app.screen.options]
        assert values == ["models/workflow-demo-tiny-qwen2"]
        app.screen.query_one(OptionList).highlighted = 0
        app.screen.query_one(OptionList).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="the form")
        assert row(screen, "model_name_or_path").value == "models/workflow-demo-tiny-qwen2"

        (demo_ws.saves_dir / "old" / "run").mkdir(parents=True)
        screen.query_one("#row-output_dir .browse").press()
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the output picker")
        values = [value for _, value in app.screen.options]
        assert values[0].startswith("saves/workflow-demo-tiny-qwen2/lora/kto") and "saves/old/run" in values
        await pilot.press("escape")


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


async def test_save_then_load_round_trip_of_a_llamafactory_example(demo_ws, settings_file):
    example = demo_ws.root / "examples" / "train_lora" / "qwen3_lora_sft.yaml"
    example.parent.mkdir(parents=True)
    example.write_text(EXAMPLE)
    original = load_config_file(example)
    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="Train")
        screen = app.screen
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, PathScreen), what="the load dialog")
        assert "examples/train_lora/qwen3_lora_sft.yaml" in app.screen.suggestions
        await type_into(pilot, app.screen.query_one("#path"), "examples/train_lora/qwen3_lora_sft.yaml")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.config_path is not None, what="the config to load")
        assert row(screen, "template").value == "qwen3_nothink"
        for section in ("lora", "train"):  # sections build their fields when first opened
            screen.query_one(f"#sec-{section}").collapsed = False
        await wait_until(pilot, lambda: screen.query("#row-lora_rank") and screen.query("#row-bf16"),
                         what="the LoRA and hyperparameter fields")
        assert row(screen, "lora_rank").value == "8"
        assert row(screen, "bf16").value is True
        assert row(screen, "learning_rate").value == "0.0001"
        extras = yaml.safe_load(screen.query_one("#extras").text)
        assert extras == {"do_train": True, "overwrite_cache": True, "dataloader_num_workers": 4,
                          "save_only_model": False, "warmup_ratio": 0.1}
        assert screen.current_config()["stage"] == "sft"

        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, PathScreen), what="the save dialog")
        await type_into(pilot, app.screen.query_one("#path"), "configs/round trip; 'x'.yaml")
        await pilot.press("enter")
        saved = demo_ws.root / "configs" / "round trip; 'x'.yaml"
        await wait_until(pilot, lambda: saved.exists(), what="the saved file")
    again = load_config_file(saved)
    # a standalone YAML: every key of the example, as written (paths as typed), plus medtui's defaults
    assert {k: again.get(k) for k in original if original[k] is not None} == {
        k: v for k, v in original.items() if v is not None}
    assert again["dataset_dir"] == "data" and again["do_train"] is True
    assert again["preprocessing_num_workers"] == 16 and again["flash_attn"] == "auto"
    assert list(again)[:3] == ["stage", "do_train", "finetuning_type"]
    assert saved.read_text().startswith("# Saved by medtui: a standalone llamafactory config.")
    assert example.read_text() == EXAMPLE  # the source is untouched


async def test_load_reports_a_broken_file_and_keeps_the_form(demo_ws, settings_file):
    bad = demo_ws.root / "bad.yaml"
    bad.write_text("stage: sft\n  lora_rank: [1\n")
    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(pilot, app, "sft")
        before = screen.current_config()
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, PathScreen), what="the load dialog")
        await type_into(pilot, app.screen.query_one("#path"), "bad.yaml")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("invalid YAML" in n.message for n in app._notifications),
                         what="the error notification")
        assert screen.current_config() == before


async def test_language_toggle_switches_labels_and_persists(demo_ws, settings_file):
    app = make_app(demo_ws, settings_file, lang=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        assert app.screen.query_one("#node-rm", StageNode).border_title == "RM Reward Modeling"
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="Train")
        await pilot.press("ctrl+t")
        await pilot.pause(0.3)
        train = app.screen
        assert "分词后每条样本的最大长度" in str(train.query_one("#row-cutoff_len .field-help").render())
        assert train.title.startswith("训练")
        assert "必填" in str(train.query_one("#row-model_name_or_path .field-error").render())  # "is required"
        assert {b.description for _, b in app._bindings if b.id == "nav.home"} == {"首页"}
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        assert app.screen.query_one("#node-rm", StageNode).border_title == "RM 奖励模型"
        app.theme = "nord"
        await pilot.pause()
    saved = load_settings(settings_file)
    assert (saved.lang, saved.theme, saved.last_workspace) == ("zh", "nord", str(demo_ws.root))
    again = make_app(demo_ws, settings_file, lang=None)
    assert again.lang == "zh"


async def test_language_switch_relabels_every_screen_in_place_and_keeps_its_state(demo_ws, settings_file):
    """Typed values, the selected dataset, a pushed Predict: all survive ctrl+t, and every screen is relabelled."""
    from textual.widgets import DataTable, Input

    from medtui.tui.screens.predict import PredictScreen

    app = make_app(demo_ws, settings_file)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        screens = {}
        for key, mode in (("f2", "environment"), ("f3", "models"), ("f4", "datasets"), ("f5", "train"),
                          ("f6", "runs"), ("f7", "chat"), ("f8", "export"), ("f1", "home")):
            await pilot.press(key)
            await wait_until(pilot, lambda mode=mode: app.current_mode == mode and app.screen.is_mounted,
                             what=f"mode {mode}")
            screens[mode] = app.screen
        await pilot.press("f5")
        await type_into(pilot, row(app.screen, "cutoff_len").control, "512")
        await pilot.press("f7")
        await type_into(pilot, app.screen.query_one("#system", Input), "be brief")
        await pilot.press("f4")
        await wait_until(pilot, lambda: app.screen.current is not None, what="a dataset")
        app.screen.query_one("#datasets", DataTable).move_cursor(row=2)
        await wait_until(pilot, lambda: app.screen.current == list(app.screen.rows)[2], what="the third dataset")
        chosen = app.screen.current
        await pilot.press("f1", "f9")
        await wait_until(pilot, lambda: isinstance(app.screen, PredictScreen), what="Predict")
        predict = app.screen

        await pilot.press("ctrl+t")
        await pilot.pause(0.3)
        assert app.screen is predict and predict.lang == "zh" and predict.title == "预测"
        for mode, screen in screens.items():
            assert app.get_screen_stack(mode)[0] is screen and screen.lang == "zh", mode  # relabelled, not rebuilt
        assert screens["train"].state.values["cutoff_len"] == "512"
        assert "分词后每条样本的最大长度" in str(screens["train"].query_one("#row-cutoff_len .field-help").render())
        assert screens["chat"].query_one("#system", Input).value == "be brief"
        assert str(screens["chat"].query_one("#load").label) == "加载"
        assert screens["datasets"].current == chosen
        assert str(screens["datasets"].query_one("#tabs").get_tab("tab-validate").label) == "校验"
        assert screens["environment"].query_one("#env-table", DataTable).columns["check"].label.plain == "检查项"
        assert [str(c.label) for c in screens["runs"].query_one("#runs-table", DataTable).columns.values()][1] == "运行"
        assert str(screens["models"].query_one("#dl-start").label) == "下载"
        assert str(screens["export"].query_one("#start").label) == "导出"
        await pilot.press("ctrl+t")
        await pilot.pause(0.3)
        assert app.screen is predict and predict.title == "Predict"
        assert str(screens["chat"].query_one("#load").label) == "Load"
