"""Alerts, diagnoses and notifications in the real MedtuiApp: the Monitor's alert panel, the Home
card, and the bell / desktop notification / toast a supervisor sends to an open TUI."""

from __future__ import annotations

import json
import sys
import time

import pytest

from medtui.core import notify
from medtui.core.runs import runner
from medtui.core.runs.plan import RunPlan
from medtui.core.runs.records import read_record, write_record
from medtui.core.workspace import Workspace
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.home import HomeScreen, StageNode
from medtui.tui.screens.runs.monitor import MonitorScreen
from medtui.tui.widgets.alerts import RunAlerts
from tests.tui_helpers import T0, FixedSampler, make_run, wait_until

SFT = "20260101-100000-sft-aaaa"
DIAGNOSIS = {"cause": "cuda_oom", "reason": "the GPU ran out of memory (CUDA out of memory)",
             "fix": "lower per_device_train_batch_size", "evidence": ["torch.OutOfMemoryError: CUDA out of memory."]}
ALERTS = [{"kind": "nan_loss", "message": "loss is nan at step 7", "step": 7, "at": T0, "count": 3},
          {"kind": "stalled", "message": "no log line for 300 s", "step": 9, "at": T0, "count": 1, "resolved": T0}]


def add_to_record(run_dir, **fields):
    record = read_record(run_dir)
    record.update(fields)
    write_record(run_dir, record)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.open(tmp_path / "ws")


def make_app(ws, tmp_path, lang="en") -> MedtuiApp:
    return MedtuiApp(ws, lang=lang, settings_path=tmp_path / "config.json")


@pytest.mark.parametrize("lang,title", [("en", "GPU out of memory"), ("zh", "显存不足")])
async def test_the_monitor_shows_open_alerts_and_the_diagnosis(ws, tmp_path, lang, title):
    run_dir = make_run(ws, SFT, status="failed", error="torch.OutOfMemoryError: CUDA out of memory.")
    add_to_record(run_dir, diagnosis=DIAGNOSIS, alerts=ALERTS)
    app = make_app(ws, tmp_path, lang)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await app.open_run(SFT)
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen._polled, what="Monitor")
        panel = app.screen.query_one(RunAlerts)
        text = str(panel.render())
        assert panel.display and f"{title}: the GPU ran out of memory" in text
        assert "lower per_device_train_batch_size" in text and "torch.OutOfMemoryError" in text
        assert "loss is nan at step 7" in text and "(x3)" in text
        assert "no log line" not in text  # resolved alerts leave the panel


async def test_the_panel_appears_when_an_alert_is_raised_live(ws, tmp_path):
    run_dir = make_run(ws, SFT, status="running")
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await app.open_run(SFT)
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen._polled, what="Monitor")
        panel = app.screen.query_one(RunAlerts)
        assert not panel.display
        time.sleep(0.02)
        add_to_record(run_dir, alerts=ALERTS[:1])
        await wait_until(pilot, lambda: panel.display and "NaN loss" in str(panel.render()), what="the alert")


async def test_home_cards_show_the_diagnosis_and_live_alerts(ws, tmp_path):
    failed = make_run(ws, SFT, status="failed", error="ValueError: Template qwen25 does not exist.")
    add_to_record(failed, diagnosis={"cause": "template", "reason": "llamafactory has no template qwen25",
                                     "fix": "choose a registered template"})
    running = make_run(ws, "20260101-120000-dpo-bbbb", stage="dpo", status="running", started=T0 - 60)
    add_to_record(running, alerts=ALERTS[:1])
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        sft = app.screen.query_one("#node-sft", StageNode)
        dpo = app.screen.query_one("#node-dpo", StageNode)
        await wait_until(pilot, lambda: sft.summary.cause and dpo.summary.alerts, what="the overview")
        assert "template mismatch: llamafactory has no template qwen25" in str(sft.render())
        assert "⚠ NaN loss" in str(dpo.render())


def _capture_driver(app):
    written: list[str] = []
    original = app._driver.write

    def write(data: str) -> None:
        written.append(data)
        original(data)

    app._driver.write = write
    return written


def no_earlier_listener() -> None:
    """An app of an earlier test (same worker) takes its socket away within half a second: wait, so
    the only listener is the app under test."""
    deadline = time.monotonic() + 5
    while list(notify.listeners_dir().glob("*.sock")):
        assert time.monotonic() < deadline, f"an earlier app's socket is still there: {list(notify.listeners_dir().iterdir())}"
        time.sleep(0.1)


async def test_a_notification_rings_the_bell_writes_osc_and_shows_a_toast(ws, tmp_path):
    no_earlier_listener()
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await wait_until(pilot, lambda: list(notify.listeners_dir().glob("*.sock")), what="the listener")
        written = _capture_driver(app)
        sent = notify.send_to_listeners({"event": "run_end", "title": "medtui: sft failed",
                                         "body": "run-1: the disk filled up", "run": {"status": "failed"},
                                         "bell": True, "desktop": True})
        assert sent == 1
        await wait_until(pilot, lambda: any(n.message == "run-1: the disk filled up" for n in app._notifications),
                         what="the toast")
        toast = next(n for n in app._notifications if n.message == "run-1: the disk filled up")
        assert toast.severity == "error"
        out = "".join(written)
        assert "\a" in out and "\x1b]777;notify;medtui: sft failed;run-1: the disk filled up" in out
        assert "\x1b]9;medtui: sft failed: run-1: the disk filled up" in out
    deadline = time.monotonic() + 5
    while list(notify.listeners_dir().glob("*.sock")):
        assert time.monotonic() < deadline, f"an earlier app's socket is still there: {list(notify.listeners_dir().iterdir())}"
        time.sleep(0.1)
    assert not list(notify.listeners_dir().glob("*.sock"))  # the app took its socket away


async def test_a_run_that_fails_while_the_tui_is_open_is_announced(ws, tmp_path):
    """The real supervisor, with a command that fails at once (no training: the message path is the test)."""
    ws.ensure_layout()
    run_dir = ws.runs_dir / "20260101-130000-sft-cccc"
    script = "import sys; print('RuntimeError: Cannot find sufficient samples, consider increasing', file=sys.stderr); sys.exit(1)"
    plan = RunPlan(run_id=run_dir.name, stage="sft", run_dir=run_dir, yaml_config={"stage": "sft"},
                   argv=[sys.executable, "-c", script], env={}, cwd=ws.root, output_dir=ws.saves_dir / "ann")
    no_earlier_listener()
    app = make_app(ws, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: list(notify.listeners_dir().glob("*.sock")), what="the listener")
        runner.start(plan, ws)
        await wait_until(pilot, lambda: app._notifications, timeout=60, what="the run's notification")
        toast = list(app._notifications)[0]
        assert "medtui: sft failed" in toast.title and "Cannot find sufficient samples" in toast.message
    record = read_record(run_dir)
    assert record["diagnosis"]["cause"] == "insufficient_samples" and record["notified"]["listeners"] == 1
    assert json.loads(json.dumps(record["notified"]))  # plain JSON in run.json


def _alerts_ws(tmp_path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    run_dir = make_run(ws, SFT, status="failed", steps=40, total=100, duration=300,
                       error="torch.OutOfMemoryError: CUDA out of memory.")
    add_to_record(run_dir, diagnosis=DIAGNOSIS, alerts=ALERTS)
    return ws


def test_snapshot_monitor_with_a_diagnosis(snap_compare, tmp_path):
    from textual.app import App

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(MonitorScreen(ws, SFT, "en", sampler=FixedSampler(ws), clock=lambda: T0,
                                           poll_interval=0.1, redraw_interval=0.2))

    ws = _alerts_ws(tmp_path)

    async def settled(pilot) -> None:
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.charts.plotted.get("loss") and screen.query_one("#gauges").stats,
                         what="data and gauges")
        await pilot.pause(0.3)

    assert snap_compare(Host(), terminal_size=(80, 24), run_before=settled)
