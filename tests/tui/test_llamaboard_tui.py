"""The Train form with LlamaBoard's fields, folders and method switch; the Datasets screen's Render tab.

All in the real MedtuiApp on demo workspaces (rendering a record for real is in tests/e2e/).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from textual.widgets import Input, Select, Static, TabbedContent

from medtui.tui.app import MedtuiApp
from medtui.tui.screens.datasets.render import RenderPane
from medtui.tui.screens.datasets.screen import DatasetsScreen
from medtui.tui.screens.train.fields import FieldRow
from medtui.tui.screens.train.screen import TrainScreen
from medtui.tui.widgets.dialogs import PathScreen
from tests.tui_helpers import type_into, wait_until

SIZE = (80, 24)


@pytest.fixture
def settings_file(tmp_path) -> Path:
    return tmp_path / "config" / "medtui" / "config.json"


def app_for(ws, settings_file) -> MedtuiApp:
    return MedtuiApp(ws, lang="en", settings_path=settings_file)


async def train_screen(pilot, app) -> TrainScreen:
    await pilot.press("f5")
    await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="Train")
    return app.screen


async def test_switching_the_method_moves_the_suggested_output_folder(demo_ws, settings_file):
    app = app_for(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await train_screen(pilot, app)
        await screen.set_config({"stage": "sft", "finetuning_type": "full", "model_name_or_path": "models/m",
                                 "output_dir": "saves/m/full/sft", "lora_rank": 16})
        assert "sec-lora" not in {c.id for c in screen.query(".form-section")}
        assert "sec-optimizer" in {c.id for c in screen.query(".form-section")}  # GaLore/APOLLO/BAdam: full only
        screen.query_one("#method", Select).value = "lora"
        await wait_until(pilot, lambda: screen.state.method == "lora", what="the method switch")
        assert screen.state.values["output_dir"] == "saves/m/lora/sft"
        assert screen.current_config()["output_dir"] == "saves/m/lora/sft"
        sections = {c.id: c.collapsed for c in screen.query(".form-section")}
        assert sections["sec-basic"] is False and sections["sec-lora"] is True and sections["sec-data"] is True
        assert "sec-optimizer" not in sections and sections["sec-logging"] is True
        screen.query_one("#method", Select).value = "full"
        await wait_until(pilot, lambda: screen.state.method == "full", what="back to full")
        assert screen.state.values["output_dir"] == "saves/m/full/sft"
        assert "lora_rank" not in screen.current_config()


async def test_opening_a_llamaboard_output_folder_fills_the_form(demo_ws, settings_file):
    folder = demo_ws.root / "saves" / "Qwen2-0.5B" / "lora" / "train_2026-11-28"
    folder.mkdir(parents=True)
    (folder / "llamaboard_config.yaml").write_text(yaml.safe_dump({
        "top.model_name": "Qwen2-0.5B", "top.finetuning_type": "lora", "top.template": "qwen",
        "top.booster": "liger_kernel", "train.training_stage": "DPO", "train.dataset": ["custom_rlhf_train_data"],
        "train.learning_rate": "1e-4", "train.pref_beta": 0.2, "train.compute_type": "fp16",
        "train.extra_args": '{"optim": "adamw_torch"}'}))
    app = app_for(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await train_screen(pilot, app)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, PathScreen), what="the load dialog")
        assert "saves/Qwen2-0.5B/lora/train_2026-11-28" in app.screen.suggestions
        await type_into(pilot, app.screen.query_one("#path"), "saves/Qwen2-0.5B/lora/train_2026-11-28")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.config_path is not None and screen.state.stage == "dpo",
                         what="the LlamaBoard folder loaded")
        config = screen.current_config()
        assert (config["template"], config["dataset"], config["output_dir"]) == (
            "qwen", "custom_rlhf_train_data", str(folder))
        assert config["pref_beta"] == "0.2" and config["fp16"] is True and config["enable_liger_kernel"] is True
        assert config["optim"] == "adamw_torch"
        assert screen.query_one("#row-model_name_or_path", FieldRow).problem == "is required"


async def test_render_tab_checks_its_inputs_without_starting_a_worker(demo_ws, settings_file):
    app = app_for(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, DatasetsScreen) and app.screen.current,
                         what="Datasets")
        screen = app.screen
        pane = screen.query_one(RenderPane)
        table = screen.query_one("#datasets")
        table.move_cursor(row=list(screen.rows).index("custom_rlhf_train_data"))
        await wait_until(pilot, lambda: screen.current == "custom_rlhf_train_data", what="the pairwise set")
        assert pane.query_one("#render-stage", Select).value == "rm"
        pane.query_one("#render-template", Input).value = "baichuan2"
        await pilot.press("t")  # opens the tab and renders
        assert screen.query_one("#tabs", TabbedContent).active == "tab-render"
        await pilot.pause()
        assert "llamafactory has no template 'baichuan2'" in str(pane.query_one("#render-head", Static).render())
        assert pane.session.proc is None  # nothing was started for bad input
        table.move_cursor(row=list(screen.rows).index("custom_sft_train_data"))  # its file is missing
        await wait_until(pilot, lambda: screen.current == "custom_sft_train_data", what="a missing file")
        pane.query_one("#render-template", Input).value = "qwen"
        pane.render_now()
        await pilot.pause()
        assert "Select a dataset with a local file first." in str(pane.query_one("#render-head", Static).render())


async def test_template_picker_offers_the_installed_llamafactorys_templates(demo_ws, settings_file):
    from medtui.core.env import llamafactory_source
    from medtui.tui.widgets.dialogs import ChoiceScreen

    app = app_for(demo_ws, settings_file)
    async with app.run_test(size=SIZE) as pilot:
        screen = await train_screen(pilot, app)
        screen.query_one("#f-template").focus()
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), what="the template picker")
        offered = [value for _, value in app.screen.options]
        assert offered == list(llamafactory_source.templates()) and "baichuan2" not in offered
        await pilot.press("escape")
