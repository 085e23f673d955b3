"""One run summary for every view: Home's stage cards, the Runs table and `medtui runs` read the same rows."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from tui_helpers import T0, make_run, trainer_lines

from medtui.core.lifecycle.overview import Overview
from medtui.core.runs.follow import RunWatch
from medtui.core.runs.records import write_record
from medtui.core.runs.summary import RunSummary, RunsWatcher
from medtui.core.workspace import Workspace

PT, SFT, DPO = "20260101-100000-pt-aaaa", "20260101-110000-sft-bbbb", "20260101-120000-dpo-cccc"


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    make_run(ws, PT, stage="pt", status="failed", steps=10, started=T0 - 7200, duration=65, error="RuntimeError: OOM")
    make_run(ws, SFT, stage="sft", status="succeeded", steps=100, total=100, started=T0 - 3600, duration=754)
    make_run(ws, DPO, stage="dpo", status="running", steps=60, total=100, started=T0 - 125)
    return ws


def test_home_runs_and_cli_show_the_same_summary(ws):
    rows = {r.id: r for r in RunsWatcher(ws).poll()}
    cards = Overview(ws, clock=lambda: T0).poll()
    for stage, run_id in (("pt", PT), ("sft", SFT), ("dpo", DPO)):
        row, card = rows[run_id], cards[stage]
        assert (card.run_id, card.status, card.loss, card.output_dir, card.reason) == \
               (row.id, row.status, row.final_loss, row.output_dir, row.reason)
        assert card.age == row.age(T0)
        as_json = row.as_json()
        assert (as_json["final_loss"], as_json["steps"], as_json["status"]) == (row.final_loss, row.steps, row.status)
        assert as_json["output_dir"] == str(ws.root / row.output_dir)
    assert rows[SFT].final_loss == trainer_lines(100, 100)[-1]["loss"] and rows[SFT].steps == 100
    assert rows[PT].reason == "RuntimeError: OOM" and cards["pt"].age == 7200 - 65
    assert cards["dpo"].age == 125 and rows[DPO].ended is None
    assert cards["kto"].run_id is None


def test_the_summary_agrees_with_the_monitor_that_reads_the_whole_log(ws):
    row = next(r for r in RunsWatcher(ws).poll() if r.id == SFT)
    delta = RunWatch(ws.runs_dir / SFT, follow_logs=False).poll()
    losses = [r["loss"] for r in delta.records if "loss" in r]
    assert row.final_loss == losses[-1] and row.steps == delta.records[-1]["current_steps"]


def test_age_and_duration():
    done = RunSummary("a", "sft", "succeeded", "saves/a", 100.0, 160.0, None, 0, 0)
    running = RunSummary("b", "sft", "running", "saves/b", 100.0, None, None, 0, 0)
    unknown = RunSummary("c", "sft", "failed", "saves/c", None, None, None, 0, 0)
    assert (done.age(200.0), done.duration(200.0)) == (40.0, 60.0)
    assert (running.age(200.0), running.duration(200.0)) == (100.0, 100.0)
    assert (unknown.age(200.0), unknown.duration(200.0)) == (None, None)


def test_the_watcher_follows_new_moved_and_removed_runs(ws):
    watcher = RunsWatcher(ws)
    assert [r.id for r in watcher.poll()] == [DPO, SFT, PT]
    newer = "20260101-130000-kto-dddd"
    make_run(ws, newer, stage="kto", steps=5, total=5, started=T0 - 10)
    assert watcher.poll()[0].id == newer
    # the record is rewritten with another output folder: the loss comes from the new trainer log
    record = json.loads((ws.runs_dir / SFT / "run.json").read_text())
    moved = ws.saves_dir / "moved"
    moved.mkdir()
    (moved / "trainer_log.jsonl").write_text('{"current_steps": 7, "total_steps": 7, "loss": 0.5}\n')
    time.sleep(0.01)
    write_record(ws.runs_dir / SFT, {**record, "output_dir": str(moved)})
    row = next(r for r in watcher.poll() if r.id == SFT)
    assert (row.final_loss, row.steps, row.total_steps, row.output_dir) == (0.5, 7, 7, "saves/moved")
    shutil.rmtree(ws.runs_dir / PT)
    assert [r.id for r in watcher.poll()] == [newer, DPO, SFT]


@pytest.mark.parametrize("bad, reason", [("[]", "not a JSON object"), ("{}", "no id"), ('{"id": "x"}', "no output_dir"),
                                         ('{"id": "x", "output_dir": "o", "started": "noon"}', "started is not a time"),
                                         ("{not json", "Expecting property name")])
def test_an_unreadable_record_is_named_not_fatal(ws, bad, reason):
    from medtui.core.runs.records import list_runs

    folder = ws.runs_dir / "20260101-130000-sft-dead"
    folder.mkdir()
    (folder / "run.json").write_text(bad)
    watcher = RunsWatcher(ws)
    assert [r.id for r in watcher.poll()] == [DPO, SFT, PT]
    assert list(watcher.unreadable) == [folder.name] and reason in watcher.unreadable[folder.name]
    assert "\n" not in watcher.unreadable[folder.name]
    assert [r.id for r in list_runs(ws.runs_dir)] == [DPO, SFT, PT]
    assert Overview(ws, clock=lambda: T0).poll()["sft"].run_id == SFT


def test_a_record_that_turns_unreadable_keeps_its_last_row(ws):
    watcher = RunsWatcher(ws)
    watcher.poll()
    time.sleep(0.01)
    (ws.runs_dir / SFT / "run.json").write_text("[]")
    rows = watcher.poll()
    assert SFT in [r.id for r in rows] and "not a JSON object" in watcher.unreadable[SFT]
    record = json.loads((ws.runs_dir / PT / "run.json").read_text())
    write_record(ws.runs_dir / SFT, {**record, "id": SFT})
    watcher.poll()
    assert watcher.unreadable == {}
