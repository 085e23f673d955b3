"""Snapshots of Home and Train at 80x24 and 120x40 (the other screens have theirs beside their tests).

Deterministic by construction: the workspace sits at a fixed path (it shows in the header), Home's
clock is injected, the run history is written with fixed times and losses, and settings come from
an empty per-test file. Update with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medtui.core.workspace import Workspace
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.home import HomeScreen
from tests.conftest import copy_ws
from tests.tui_helpers import wait_until

SNAP_ROOT = Path("/tmp/medtui-snapshot/ws")
#: One fixed folder (its path is in the pictures), so under xdist these tests share one worker.
pytestmark = pytest.mark.xdist_group("snapshot-root")
SIZES = [(80, 24), (120, 40)]
NOW = 1_800_000_000.0


@pytest.fixture
def snap_ws(demo_template):
    shutil.rmtree(SNAP_ROOT.parent, ignore_errors=True)
    ws = copy_ws(demo_template, SNAP_ROOT)
    yield ws
    shutil.rmtree(SNAP_ROOT.parent, ignore_errors=True)


def app_for(ws: Workspace, tmp_path: Path, start: str = "home", lang: str = "en") -> MedtuiApp:
    return MedtuiApp(ws, lang=lang, settings_path=tmp_path / "settings.json", start=start)


async def settle(pilot) -> None:
    await wait_until(pilot, lambda: pilot.app.screen.is_current and pilot.app.screen.is_mounted, what="the screen")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_home_empty(snap_ws, tmp_path, snap_compare, size):
    assert snap_compare(app_for(snap_ws, tmp_path), terminal_size=size, run_before=settle)


def test_home_in_chinese(snap_ws, tmp_path, snap_compare):
    assert snap_compare(app_for(snap_ws, tmp_path, lang="zh"), terminal_size=(80, 24), run_before=settle)


def _record(ws: Workspace, run_id: str, stage: str, status: str, out: str, started: float, ended: float,
            loss: float | None, error: str | None = None) -> None:
    run_dir = ws.runs_dir / run_id
    run_dir.mkdir(parents=True)
    output = ws.root / out
    output.mkdir(parents=True, exist_ok=True)
    record = {"id": run_id, "stage": stage, "kind": "export" if stage == "export" else "train", "status": status,
              "output_dir": str(output), "started": started, "ended": ended, "exit_code": 0 if status == "succeeded"
              else 1, "pid": None, "config": {"finetuning_type": "full"}, "error": error}
    (run_dir / "run.json").write_text(json.dumps(record))
    if loss is not None:
        rows = [{"current_steps": 1, "total_steps": 2, "loss": loss + 1.0}, {"current_steps": 2, "total_steps": 2,
                                                                              "loss": loss}]
        (output / "trainer_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_home_with_history(snap_ws, snap_compare, tmp_path):
    """Statuses, output folders, losses and ages, from run records with fixed times."""
    _record(snap_ws, "r1-pt", "pt", "succeeded", "saves/demo/full/pt", NOW - 4000, NOW - 3600, 7.3109)
    _record(snap_ws, "r2-sft", "sft", "succeeded", "saves/demo/full/sft", NOW - 3000, NOW - 1500, 6.8443)
    _record(snap_ws, "r3-rm", "rm", "failed", "saves/demo/lora/rm", NOW - 900, NOW - 600, None,
            error="ValueError: bad dataset")
    _record(snap_ws, "r4-dpo", "dpo", "stopped", "saves/demo/lora/dpo", NOW - 500, NOW - 120, 0.6920)

    app = MedtuiApp(snap_ws, lang="en", settings_path=tmp_path / "settings.json",
                    screens={"home": lambda ws, lang: HomeScreen(ws, lang, clock=lambda: NOW)})

    async def loaded(pilot) -> None:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HomeScreen) and pilot.app.screen.summaries,
                         what="the summaries")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_train_form(snap_ws, tmp_path, snap_compare, size):
    assert snap_compare(app_for(snap_ws, tmp_path, start="train"), terminal_size=size, run_before=settle)
