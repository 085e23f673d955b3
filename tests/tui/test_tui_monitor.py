"""The Monitor screen and the incremental readers behind it.

Display tests use fake run folders with fixed timestamps (tui_helpers.make_run); the real runs
(reattach, graceful Stop) are in tests/e2e/test_tui_monitor_e2e.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import ROOT
from textual.app import App
from textual.widgets import Log, Static
from tui_helpers import T0, TWO_GPUS, FixedSampler, make_run, trainer_lines, wait_until

from medtui.core.runs.follow import MAX_POINTS, RunState, RunWatch, clean_line
from medtui.core.runs.records import load_run, write_record
from medtui.core.workspace import Workspace
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.screens.runs.monitor import MonitorScreen
from medtui.tui.widgets.chart import step_ticks, thin

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

def test_run_watch_reads_only_what_was_appended(ws):
    run_dir = make_run(ws, SFT, steps=30, total=100)
    watch = RunWatch(run_dir)
    first = watch.poll()
    assert len(first.records) == 30 and first.record is not None and first.status == "succeeded"
    again = watch.poll()
    assert again.records == [] and again.lines == [] and again.record is None  # nothing new: nothing read
    log = watch.run.trainer_log
    size = log.stat().st_size
    assert watch.trainer.offset == size
    extra = trainer_lines(33, 100)[30:]
    with open(log, "a") as fh:
        fh.write(json.dumps(extra[0]) + "\n" + json.dumps(extra[1]) + "\n" + json.dumps(extra[2])[:20])
    assert [r["current_steps"] for r in watch.poll().records] == [31, 32]  # the partial line waits
    with open(log, "a") as fh:
        fh.write(json.dumps(extra[2])[20:] + "\n")
    assert [r["current_steps"] for r in watch.poll().records] == [33]


def test_run_watch_resets_when_the_trainer_log_is_replaced(ws):
    run_dir = make_run(ws, SFT, steps=40)
    watch, state = RunWatch(run_dir), RunState(SFT)
    state.apply(watch.poll())
    assert len(state.progress.series["loss"][0]) == 40
    log = watch.run.trainer_log
    tmp = log.with_suffix(".new")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in trainer_lines(5, 100)))
    tmp.replace(log)  # overwrite_output_dir: a fresh run rewrites the file
    assert state.apply(watch.poll())
    assert len(state.progress.series["loss"][0]) == 5


def test_run_watch_follows_the_record(ws):
    run_dir = make_run(ws, SFT, status="running", steps=3)
    watch = RunWatch(run_dir)
    assert watch.poll().status == "running"
    record = json.loads((run_dir / "run.json").read_text())
    record.update(status="failed", ended=T0, exit_code=1, error="ValueError: bad dataset")
    time.sleep(0.01)
    write_record(run_dir, record)
    delta = watch.poll()
    assert delta.record is not None and delta.status == "failed" and delta.reason == "ValueError: bad dataset"


def test_log_backlog_starts_near_the_end(ws):
    run_dir = make_run(ws, SFT, log_lines=0)
    (run_dir / "stdout.log").write_text("".join(f"line {i:06d}\n" for i in range(50_000)))
    watch = RunWatch(run_dir, log_backlog=1000)
    lines = watch.poll().lines
    assert lines[-1] == "line 049999"
    assert 0 < len(lines) <= 1000 // 12 and all(ln.startswith("line ") and len(ln) == 11 for ln in lines)
    with open(run_dir / "stdout.log", "a") as fh:
        fh.write("epoch 1 \x1b[32mdone\x1b[0m\n")
    assert watch.poll().lines == ["epoch 1 done"]


def test_clean_line_keeps_what_a_terminal_shows():
    assert clean_line("10%|#  | 1/10\r50%|#####| 5/10") == "50%|#####| 5/10"
    assert clean_line("\x1b[1;31mError\x1b[0m: boom") == "Error: boom"


def test_history_is_bounded():
    state = RunState("x", max_points=100)
    from medtui.core.runs.follow import RunDelta

    for start in range(0, 1000, 50):
        state.apply(RunDelta("x", "running", None, "", None,
                             [{"current_steps": s, "loss": 1.0, "lr": 0.1} for s in range(start, start + 50)]))
    xs, ys = state.progress.series["loss"]
    assert len(xs) <= 100 and len(xs) == len(ys)
    assert xs[-1] >= 950 and xs[0] == 0  # thinned, not truncated: the whole span stays
    assert MAX_POINTS >= 10_000


def test_thin_and_ticks():
    xs = list(range(1, 1001))
    tx, ty = thin(xs, xs, 50)
    assert len(tx) == 50 and tx[0] == 1 and tx[-1] == 1000 and tx == ty
    assert thin([1, 2], [3], 10) == ([1], [3])  # unequal lengths never pair wrong values
    assert step_ticks([1, 2, 3]) == [1, 2, 3]
    assert step_ticks([1, 400]) == [1, 101, 200, 300, 400]


# -- the Monitor screen on fake runs --------------------------------------------------------

async def test_monitor_shows_history_progress_and_status(ws):
    make_run(ws, SFT, status="running", steps=60, total=100, started=T0 - 125, eval_every=20)
    app = monitor_host(ws, SFT)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.charts.plotted.get("loss"), what="loss points")
        assert screen.loss_points == 60
        assert screen.charts.plotted["eval_loss"] == 3 and screen.charts.plotted["lr"] == 60
        status = static_text(screen, "#status")
        assert SFT in status and "running" in status and "elapsed 2:05" in status
        progress = static_text(screen, "#progress-text")
        assert "step 60/100" in progress and "60.0%" in progress and "ETA 1:20" in progress
        assert "512 tok/s" in progress
        assert not screen.charts.has_class("-metric")  # sft has no stage metric chart
        log = screen.query_one("#log", Log)
        assert log.lines[-1] == "[INFO] step 12: training"


async def test_monitor_follows_new_lines_with_throttled_redraws(ws):
    run_dir = make_run(ws, SFT, status="running", steps=10, total=100)
    app = monitor_host(ws, SFT, poll_interval=0.05, redraw_interval=0.6)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.charts.plotted.get("loss") == 10, what="first draw")
        redraws = screen.charts.redraws
        trainer_log = load_run(run_dir).trainer_log
        for rec in trainer_lines(20, 100)[10:]:
            with open(trainer_log, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            with open(run_dir / "stdout.log", "a") as fh:
                fh.write(f"[INFO] step {rec['current_steps']}: training\n")
            await pilot.pause(0.06)
        await wait_until(pilot, lambda: screen.loss_points == 20, what="appended points")
        await wait_until(pilot, lambda: screen.charts.plotted.get("loss") == 20, what="a redraw")
        assert screen.charts.redraws - redraws <= 3, "charts must be redrawn by the timer, not on every poll"
        assert "step 20/100" in static_text(screen, "#progress-text")
        assert screen.query_one("#log", Log).lines[-1] == "[INFO] step 20: training"


async def test_dpo_shows_its_accuracy_chart(ws):
    make_run(ws, DPO, stage="dpo", steps=30)
    app = monitor_host(ws, DPO)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.charts.plotted.get("accuracy"), what="the accuracy chart")
        assert screen.charts.has_class("-metric") and screen.charts.plotted["accuracy"] == 30


async def test_log_pane_pauses_and_resumes(ws):
    run_dir = make_run(ws, SFT, status="running", log_lines=3)
    app = monitor_host(ws, SFT)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        log = screen.query_one("#log", Log)
        await wait_until(pilot, lambda: log.line_count == 3, what="the log backlog")
        await pilot.press("p")
        assert screen.log_paused
        with open(run_dir / "stdout.log", "a") as fh:
            fh.write("while paused 1\nwhile paused 2\n")
        await wait_until(pilot, lambda: len(screen._held) == 2, what="held lines")
        assert log.line_count == 3 and "paused, 2 new lines" in str(log.border_title)
        await pilot.press("p")
        assert log.line_count == 5 and log.lines[-1] == "while paused 2"
        assert str(log.border_title) == "Log"


async def test_stop_on_a_finished_run_only_warns(ws):
    make_run(ws, SFT, status="succeeded")
    app = monitor_host(ws, SFT)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.primary.status == "succeeded", what="the status")
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("is not running" in n.message for n in app._notifications)


async def test_kill_asks_first_then_kills_the_process_group(ws):
    """Kill behind its confirmation, on a real process group (a sleep standing in for a trainer)."""
    run_dir = make_run(ws, SFT, status="running", steps=5)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        record = json.loads((run_dir / "run.json").read_text())
        record.update(pid=sleeper.pid, pid_create_time=psutil.Process(sleeper.pid).create_time())
        write_record(run_dir, record)
        app = monitor_host(ws, SFT)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            await wait_until(pilot, lambda: screen.primary.record.get("pid") == sleeper.pid, what="the record")
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
            await pilot.press("n")  # declined: nothing happens
            await pilot.pause(0.3)
            assert sleeper.poll() is None and screen.primary.status == "running"
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
            await pilot.press("y")
            await wait_until(pilot, lambda: screen.primary.status == "killed", timeout=20, what="killed")
            assert sleeper.wait(timeout=5) == -signal.SIGKILL
            assert "killed" in static_text(screen, "#status")
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


async def test_compare_overlays_up_to_four_runs(ws):
    ids = [f"20260101-1{i}0000-sft-{i}{i}{i}{i}" for i in range(6)]
    for i, rid in enumerate(ids):
        make_run(ws, rid, steps=10 + 5 * i)
    app = monitor_host(ws, ids[0], compare=ids[1:])
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.charts.plotted) >= 4, what="four curves")
        assert screen.run_ids == ids[:4]
        assert {k: v for k, v in screen.charts.plotted.items() if k.startswith("loss:")} == {
            f"loss:{rid}": 10 + 5 * i for i, rid in enumerate(ids[:4])}
        assert "Compare 4 runs" in screen.title


async def test_missing_run_is_explained(ws):
    ws.ensure_layout()
    app = monitor_host(ws, "nope")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: "nope" in screen.missing, what="the missing run")
        await pilot.pause(0.1)
        assert "Run nope not found" in static_text(screen, "#status")


async def test_monitor_in_chinese(ws):
    make_run(ws, SFT, status="stopped", steps=8)
    app = monitor_host(ws, SFT, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.loss_points == 8, what="points")
        await pilot.pause(0.1)
        assert "已停止" in static_text(screen, "#status")
        assert "步 8/100" in static_text(screen, "#progress-text")
        descriptions = {b.binding.id: b.binding.description for b in screen.active_bindings.values()}
        assert descriptions["monitor.stop"] == "停止" and descriptions["monitor.kill"] == "强制终止"


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


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_monitor_finished_sft(snap_compare, tmp_path, size):
    ws = _snapshot_ws(tmp_path)
    assert snap_compare(monitor_host(ws, SFT), terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_monitor_running_dpo_with_gpus(snap_compare, tmp_path, size):
    ws = _snapshot_ws(tmp_path)
    assert snap_compare(monitor_host(ws, DPO, sampler=FixedSampler(ws, gpu=TWO_GPUS, free_gb=6)),
                        terminal_size=size, run_before=_settled)


def test_screens_import_no_heavy_module():
    """The UI process never imports torch/transformers/llamafactory, not even through the core it uses."""
    code = ("import sys, medtui.tui.screens.runs.screen, medtui.tui.screens.runs.monitor, medtui.core.runs.runner, "
            "medtui.core.env.sysstats\n"
            "heavy = [m for m in ('torch', 'transformers', 'llamafactory', 'trl', 'peft', 'datasets') "
            "if m in sys.modules]\nprint(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
