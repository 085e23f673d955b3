"""The Monitor screen and the incremental readers behind it.

Display tests use fake run folders with fixed timestamps (tui_helpers.make_run). The two
``live_run`` tests start one real SFT run on the demo model: reattach (a new app instance finds it
with its full history) and graceful Stop (the adapter is saved, the status reads stopped).
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import copy_ws
from textual.app import App
from textual.widgets import Static
from tui_helpers import T0, FixedSampler, make_run, wait_until

from medtui.core.runs import runner
from medtui.core.runs.records import load_run
from medtui.core.stages.launch import launch
from medtui.core.workspace import Workspace
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.screens.runs.monitor import MonitorScreen
from medtui.tui.screens.runs.screen import RunsScreen

SFT = "20260101-100000-sft-aaaa"
DPO = "20260101-110000-dpo-bbbb"


class Host(App):
    def __init__(self, make_screen):
        super().__init__()
        self.make_screen = make_screen

    def on_mount(self) -> None:
        self.push_screen(self.make_screen())


def monitor_host(ws: Workspace, run_id: str, **kw) -> Host:
    kw.setdefault("sampler", FixedSampler(ws))
    kw.setdefault("clock", lambda: T0)
    kw.setdefault("poll_interval", 0.1)
    kw.setdefault("redraw_interval", 0.2)
    return Host(lambda: MonitorScreen(ws, run_id, kw.pop("lang", "en"), **kw))


def loss_lines(path) -> int:
    """Lines of a trainer_log.jsonl that carry a loss (the last line of a run has none)."""
    if not path.exists():
        return 0
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sum(1 for rec in records if isinstance(rec.get("loss"), (int, float)))


def static_text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.open(tmp_path / "ws")


# -- core.watch: incremental reading -------------------------------------------------------

# -- the Monitor screen on fake runs --------------------------------------------------------

# -- snapshots --------------------------------------------------------------------------

def _snapshot_ws(tmp_path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    make_run(ws, SFT, steps=100, total=100, eval_every=20, duration=754)
    make_run(ws, DPO, stage="dpo", status="running", steps=60, total=100, started=T0 - 125)
    return ws


async def _settled(pilot) -> None:
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.charts.plotted.get("loss") and screen.query_one("#gauges").stats,
                     what="data and gauges")
    await pilot.pause(0.3)


# -- a real run: reattach and graceful stop --------------------------------------------------

LIVE_CONFIG = dict(stage="sft", finetuning_type="lora", model_name_or_path="models/workflow-demo-tiny-qwen2",
                   dataset="demo_sft_train_data", template="default", max_steps=400, logging_steps=1,
                   save_steps=100000, cutoff_len=64, preprocessing_num_workers=1, overwrite_output_dir=True,
                   per_device_train_batch_size=1, lora_rank=4, bf16=False, report_to="none",
                   output_dir="saves/monitor-live/sft")


@pytest.fixture(scope="module")
def live_run(demo_template, tmp_path_factory):
    """One real SFT run on the demo model, long enough to be stopped by hand (killed at teardown)."""
    ws = copy_ws(demo_template, tmp_path_factory.mktemp("live") / "ws")
    run = launch(dict(LIVE_CONFIG), ws)
    yield ws, run
    fresh = load_run(run.run_dir)
    if fresh.is_running:
        runner.stop(fresh, kill=True)


async def test_reattach_shows_a_running_run_with_its_full_history(live_run):
    ws, run = live_run

    def runs_host():
        return Host(lambda: RunsScreen(ws, clock=time.time, poll_interval=0.2))

    first = runs_host()
    async with first.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: any(r.id == run.id for r in first.screen.rows), what="the run's row")
        assert first.screen.rows[0].status == "running"
    assert load_run(run.run_dir).is_running, "quitting the UI must never stop a run"

    # A second, fresh app instance finds the run and its history as it grows.
    deadline = time.monotonic() + 240
    while loss_lines(run.trainer_log) < 3:
        assert time.monotonic() < deadline and load_run(run.run_dir).is_running, "the run wrote no trainer_log lines"
        time.sleep(0.5)
    second = runs_host()
    async with second.run_test(size=(120, 30)) as pilot:
        screen = second.screen
        await wait_until(pilot, lambda: any(r.id == run.id for r in screen.rows), what="the run's row")
        row = next(r for r in screen.rows if r.id == run.id)
        assert row.status in ("running", "succeeded") and row.stage == "sft"
        assert row.output_dir == "saves/monitor-live/sft"
        await pilot.press("enter")
        assert isinstance(second.screen, MonitorScreen) and second.screen.run_id == run.id
        monitor = second.screen
        before = loss_lines(run.trainer_log)
        await wait_until(pilot, lambda: monitor.loss_points >= before, timeout=10, what="the full history")
        after = loss_lines(run.trainer_log)
        assert before <= monitor.loss_points <= after
        await wait_until(pilot, lambda: monitor.charts.plotted.get("loss"), what="the chart")


async def test_graceful_stop_from_the_monitor_saves_the_adapter(live_run):
    ws, run = live_run
    app = Host(lambda: MonitorScreen(ws, run.id, poll_interval=0.5, redraw_interval=1.0))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.charts.plotted.get("loss", 0) > 0 and screen.primary.progress.steps > 0,
                         timeout=240, what="chart points and steps")
        assert "step " in static_text(screen, "#progress-text") and "/400" in static_text(screen, "#progress-text")
        assert screen.primary.status == "running", "the run ended before it could be stopped"
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.primary.status == "stopped", timeout=150, what="status stopped")
        await pilot.pause(1.0)  # one more poll for the last trainer_log lines
        assert "stopped" in static_text(screen, "#status")
        assert screen.loss_points == loss_lines(run.trainer_log)
    final = load_run(run.run_dir)
    assert final.status == "stopped"
    assert (final.output_dir / "adapter_model.safetensors").is_file(), "a graceful stop saves the adapter"


