"""The Train form's "Launch on: this machine | Slurm" and its Slurm fields, in the real MedtuiApp.

Nothing is submitted here (tests/e2e/test_slurm_e2e.py submits from the TUI to a real cluster).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Collapsible, Input, Select

from medtui.core.lifecycle.prefill import prefill
from medtui.core.slurm import profile
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.train.fields import FieldRow
from medtui.tui.screens.train.screen import TrainScreen
from medtui.tui.widgets.dialogs import PreviewScreen
from tests.tui_helpers import type_into, wait_until

SLURM_FIELDS = ("slurm_partition", "slurm_nodes", "slurm_gpus_per_node", "slurm_time", "slurm_account",
                "slurm_sbatch_args")


@pytest.fixture
def settings_file(tmp_path) -> Path:
    return tmp_path / "config" / "medtui" / "config.json"


async def open_distributed(pilot, app: MedtuiApp, config: dict) -> TrainScreen:
    await app.open_train(config)
    await wait_until(pilot, lambda: isinstance(app.screen, TrainScreen), what="the Train form")
    screen = app.screen
    screen.query_one("#sec-distributed", Collapsible).collapsed = False
    await wait_until(pilot, lambda: bool(screen.query("#row-launch_on")), what="the distributed section")
    return screen


def row(screen: TrainScreen, name: str) -> FieldRow:
    return screen.query_one(f"#row-{name}", FieldRow)


def choice_labels(field: FieldRow) -> list[str]:
    """The labels the Select offers for the spec's choices (not its blank 'default' entry)."""
    return [str(label) for label, value in field.control._options if value in field.arg.choices]


async def test_launch_on_slurm_shows_the_profile_fields_and_the_sbatch_preview(demo_ws, settings_file):
    profile.save_profile({"partition": "debug", "time": "00:30:00"}, ws=demo_ws)
    app = MedtuiApp(demo_ws, lang="en", settings_path=settings_file)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_distributed(pilot, app, prefill(demo_ws, "sft"))
        launch = row(screen, "launch_on").control
        assert isinstance(launch, Select)
        assert choice_labels(row(screen, "launch_on")) == ["this machine", "Slurm"]
        assert not any(row(screen, name).display for name in SLURM_FIELDS)  # only for Slurm

        launch.value = "slurm"
        await wait_until(pilot, lambda: row(screen, "slurm_nodes").display, what="the Slurm fields")
        assert all(row(screen, name).display for name in SLURM_FIELDS)
        partition = row(screen, "slurm_partition").control
        assert isinstance(partition, Input) and partition.placeholder == "cluster profile: debug"
        assert row(screen, "slurm_time").control.placeholder == "cluster profile: 00:30:00"
        await type_into(pilot, row(screen, "slurm_nodes").control, "2")
        assert screen.current_config()["slurm_nodes"] == "2" and screen.current_config()["launch_on"] == "slurm"

        await pilot.press("ctrl+g")  # Preview
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), what="the preview")
        shown = app.screen.query_one("#preview-text").text
        await pilot.press("escape")
        assert shown.startswith(f"# sbatch {demo_ws.runs_dir / screen.preview_plan.run_id / 'job.sbatch'}")
        for line in ("#SBATCH --nodes=2", "#SBATCH --partition=debug", "#SBATCH --time=00:30:00"):
            assert line in shown.splitlines()
        assert "--node_rank=\"$SLURM_PROCID\"" in shown and "stage: sft" in shown
        assert not demo_ws.runs_dir.exists() or not any(demo_ws.runs_dir.iterdir())  # a preview submits nothing

        await pilot.press("ctrl+t")  # the choice labels follow the language; the value stays
        await wait_until(pilot, lambda: row(screen, "launch_on").lang == "zh", what="Chinese labels")
        assert choice_labels(row(screen, "launch_on")) == ["本机", "Slurm 集群"]
        assert row(screen, "launch_on").value == "slurm"
        assert row(screen, "slurm_partition").control.placeholder == "集群配置:debug"

        row(screen, "launch_on").control.value = "local"
        await wait_until(pilot, lambda: not row(screen, "slurm_nodes").display, what="the Slurm fields hidden")


async def test_a_bad_slurm_value_is_marked_on_its_field(demo_ws, settings_file):
    app = MedtuiApp(demo_ws, lang="en", settings_path=settings_file)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_distributed(pilot, app, {**prefill(demo_ws, "sft"), "launch_on": "slurm"})
        assert row(screen, "slurm_nodes").display
        await type_into(pilot, row(screen, "slurm_nodes").control, "0")
        await wait_until(pilot, lambda: row(screen, "slurm_nodes").problem != "", what="the field's problem")
        assert "at least 1" in row(screen, "slurm_nodes").problem
