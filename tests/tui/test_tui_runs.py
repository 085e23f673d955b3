"""The Runs screen: every run of the workspace, live refresh, open, mark and compare.

Fake run folders (tui_helpers.make_run) stand in for runs here; a real run reattached through
this screen is tested in test_tui_monitor.py (``test_reattach_shows_a_running_run_with_its_full_history``).
"""

from __future__ import annotations

import json
import time

import pytest
from textual.app import App
from textual.widgets import DataTable, Static
from tui_helpers import T0, FixedSampler, make_run, trainer_lines, wait_until

from medtui.core.runs.records import write_record
from medtui.core.runs.summary import RunsWatcher
from medtui.core.workspace import Workspace
from medtui.tui.screens.runs.monitor import MonitorScreen
from medtui.tui.screens.runs.screen import RunsScreen

IDS = ["20260101-090000-pt-cccc", "20260101-100000-sft-aaaa", "20260101-110000-dpo-bbbb"]


class Host(App):
    def __init__(self, ws: Workspace, lang: str = "en"):
        super().__init__()
        self.ws = ws
        self.lang = lang

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.ws, self.lang, clock=lambda: T0, poll_interval=0.1,
                                    sampler=FixedSampler(self.ws)))


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield Workspace.open(tmp_path / "ws")
    monkeypatch.undo()
    time.tzset()


def three_runs(ws: Workspace) -> None:
    make_run(ws, IDS[0], stage="pt", status="failed", steps=10, started=T0 - 7200, duration=65,
             error="RuntimeError: CUDA out of memory")
    make_run(ws, IDS[1], stage="sft", status="succeeded", steps=100, total=100, started=T0 - 3600, duration=754)
    make_run(ws, IDS[2], stage="dpo", status="running", steps=60, total=100, started=T0 - 125)


def cells(screen: RunsScreen, run_id: str) -> dict[str, str]:
    table = screen.query_one("#runs-table", DataTable)
    row = table.get_row(run_id)
    return {str(col.key.value): str(value) for col, value in zip(table.ordered_columns, row)}


def test_watcher_summarises_every_run(ws):
    three_runs(ws)
    rows = RunsWatcher(ws).poll()
    assert [r.id for r in rows] == IDS[::-1]  # newest first
    by_id = {r.id: r for r in rows}
    assert by_id[IDS[0]].status == "failed" and by_id[IDS[0]].reason == "RuntimeError: CUDA out of memory"
    last = trainer_lines(100, 100)[-1]
    assert by_id[IDS[1]].final_loss == last["loss"] and by_id[IDS[1]].steps == 100
    assert by_id[IDS[2]].status == "running" and by_id[IDS[2]].ended is None
    assert by_id[IDS[1]].output_dir == "saves/demo/sft-aaaa"


def test_watcher_reads_only_the_end_of_long_logs(ws):
    run_dir = make_run(ws, IDS[1], steps=3000, total=3000)
    watcher = RunsWatcher(ws)
    rows = watcher.poll()
    assert rows[0].steps == 3000 and rows[0].final_loss == trainer_lines(3000, 3000)[-1]["loss"]
    entry = watcher._entries[IDS[1]]
    log = json.loads((run_dir / "run.json").read_text())["output_dir"] + "/trainer_log.jsonl"
    import os

    size = os.path.getsize(log)
    assert size > 200_000 and entry.watch.trainer.offset == size  # started near the end, not at byte 0


def test_a_broken_run_folder_is_skipped(ws):
    three_runs(ws)
    bad = ws.runs_dir / "20260101-120000-sft-dead"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    assert [r.id for r in RunsWatcher(ws).poll()] == IDS[::-1]


async def test_runs_table_lists_every_run(ws):
    three_runs(ws)
    app = Host(ws)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.rows) == 3, what="three rows")
        await pilot.pause(0.1)
        table = screen.query_one("#runs-table", DataTable)
        assert [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(3)] == IDS[::-1]
        sft = cells(screen, IDS[1])
        assert sft["status"] == "succeeded" and sft["duration"] == "12:34" and sft["started"] == "09-21 13:13"
        assert sft["loss"] == f"{trainer_lines(100, 100)[-1]['loss']:.4f}" and sft["output"] == "saves/demo/sft-aaaa"
        dpo = cells(screen, IDS[2])
        assert dpo["status"] == "running" and dpo["duration"] == "2:05"
        assert cells(screen, IDS[0])["status"] == "failed"


async def test_new_runs_and_status_changes_show_up(ws):
    three_runs(ws)
    app = Host(ws)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.rows) == 3, what="three rows")
        await pilot.press("down")
        assert screen.cursor_run() == IDS[1]
        newer = "20260101-120000-kto-dddd"
        make_run(ws, newer, stage="kto", status="running", steps=2, started=T0 - 10)  # e.g. from the CLI
        await wait_until(pilot, lambda: len(screen.rows) == 4, what="the new run")
        assert screen.rows[0].id == newer and screen.cursor_run() == newer  # the cursor follows a new run on top
        run_dir = ws.runs_dir / IDS[2]
        record = json.loads((run_dir / "run.json").read_text())
        record.update(status="stopped", ended=T0 - 5)
        write_record(run_dir, record)
        await wait_until(pilot, lambda: cells(screen, IDS[2])["status"] == "stopped", what="the new status")
        assert cells(screen, IDS[2])["duration"] == "2:00"


async def test_enter_opens_the_monitor(ws):
    three_runs(ws)
    app = Host(ws)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: len(app.screen.rows) == 3, what="rows")
        await pilot.press("down", "enter")
        assert isinstance(app.screen, MonitorScreen) and app.screen.run_id == IDS[1]
        monitor = app.screen
        await wait_until(pilot, lambda: monitor.loss_points == 100, what="the history")
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_mark_up_to_four_and_compare(ws):
    ids = [f"20260101-1{i}0000-sft-{i}{i}{i}{i}" for i in range(5)]
    for i, rid in enumerate(ids):
        make_run(ws, rid, steps=5 + i, started=T0 - 1000 + i)
    app = Host(ws)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.rows) == 5, what="rows")
        await pilot.press("c")
        assert isinstance(app.screen, RunsScreen)  # nothing marked: only a hint
        await pilot.press("space", "down", "space", "down", "space", "down", "space", "down", "space")
        assert screen.marked == ids[::-1][:4]  # the fifth is refused
        assert any("Up to four" in n.message for n in app._notifications)
        assert cells(screen, ids[-1])["mark"] == "●" and cells(screen, ids[0])["mark"] == " "
        await pilot.press("up", "space")  # unmark the fourth
        assert screen.marked == ids[::-1][:3]
        await pilot.press("c")
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen) and monitor.run_ids == ids[::-1][:3]
        await wait_until(pilot, lambda: len(monitor.charts.plotted) >= 3, what="three curves")


async def test_empty_workspace_explains_itself(ws):
    app = Host(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        hint = str(app.screen.query_one("#runs-hint", Static).render())
        assert "No runs in this workspace yet" in hint
        await pilot.press("enter", "space", "c")
        assert isinstance(app.screen, RunsScreen)


async def test_runs_in_chinese(ws):
    three_runs(ws)
    app = Host(ws, lang="zh")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.rows) == 3, what="rows")
        await pilot.pause(0.1)
        table = screen.query_one("#runs-table", DataTable)
        assert [str(c.label) for c in table.ordered_columns][1:4] == ["运行", "阶段", "状态"]
        assert cells(screen, IDS[1])["status"] == "已完成"
        descriptions = {b.binding.id: b.binding.description for b in screen.active_bindings.values()}
        assert descriptions["runs.compare"] == "对比"


async def _loaded(pilot) -> None:
    await wait_until(pilot, lambda: len(getattr(pilot.app.screen, "rows", ())) == 3, what="rows")
    await pilot.pause(0.3)


def runs_app(ws: Workspace, tmp_path):
    """The real app on its Runs screen, with a fixed clock (durations) and gauges."""
    from tests.tui_helpers import real_app

    return real_app(ws, tmp_path, "runs", screens={"runs": lambda w, lang: RunsScreen(
        w, lang, clock=lambda: T0, poll_interval=0.1, sampler=FixedSampler(w))})


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_runs(snap_compare, ws, tmp_path, size):
    three_runs(ws)
    assert snap_compare(runs_app(ws, tmp_path), terminal_size=size, run_before=_loaded)


def test_snapshot_runs_marked(snap_compare, ws, tmp_path):
    three_runs(ws)

    async def marked(pilot):
        await _loaded(pilot)
        await pilot.press("space", "down", "space")
        await pilot.pause(0.2)

    assert snap_compare(runs_app(ws, tmp_path), terminal_size=(80, 24), run_before=marked)
