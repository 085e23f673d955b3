"""The Train form's live memory estimate and the Resume dialog of Runs and Monitor, in the real app."""

from __future__ import annotations

import json

from medtui.core.estimate import GpuFacts
from medtui.core.estimate.memory import GiB
from medtui.core.runs.records import list_runs
from medtui.tui.app import MedtuiApp
from medtui.tui.screens.runs.monitor import MonitorScreen
from medtui.tui.screens.runs.resume import ResumeScreen
from medtui.tui.screens.runs.screen import RunsScreen
from medtui.tui.screens.train.estimate import estimate_lines
from tests.tui.test_tui_app import open_stage, row
from tests.tui_helpers import make_run, type_into, wait_until
from tests.unit.test_estimate import LLAMA3_8B

SIZE = (100, 40)


def _app(ws, tmp_path) -> MedtuiApp:
    return MedtuiApp(ws, lang="en", settings_path=tmp_path / "config.json")


def _estimate_text(screen) -> str:
    return str(screen.query_one("#train-estimate").render())


async def test_train_form_estimate_follows_the_fields(demo_ws, tmp_path):
    app = _app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stage(pilot, app, "sft")
        await wait_until(pilot, lambda: "per GPU" in _estimate_text(screen), what="the first estimate")
        before = _estimate_text(screen)
        assert "logits" in before and "activations" in before
        await type_into(pilot, row(screen, "cutoff_len").control, "8192")
        await wait_until(pilot, lambda: _estimate_text(screen) != before, what="a new estimate")
        assert "per GPU" in _estimate_text(screen)


def test_estimate_line_says_when_it_does_not_fit_and_what_to_try(demo_ws, tmp_path):
    folder = tmp_path / "llama3"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA3_8B))
    config = {"stage": "sft", "finetuning_type": "full", "model_name_or_path": str(folder), "cutoff_len": 4096}
    head, detail, level = estimate_lines(config, demo_ws, "en", facts=GpuFacts((24 * GiB,), "RTX 4090", "nvml"))
    assert level == "error" and "does NOT fit" in head and "try" in head and "weights" in detail
    head, _, level = estimate_lines(dict(config, finetuning_type="lora", quantization_bit=4, cutoff_len=512),
                                    demo_ws, "zh", facts=GpuFacts((24 * GiB,), "RTX 4090", "nvml"))
    assert level == "ok" and "可放下" in head
    head, _, level = estimate_lines(dict(config, model_name_or_path=str(tmp_path / "none")), demo_ws, "en")
    assert level == "none" and "model folder not found" in head


def _with_checkpoints(ws, run_id, stage="sft"):
    run_dir = make_run(ws, run_id, stage=stage, status="stopped", steps=20, total=40)
    record = json.loads((run_dir / "run.json").read_text())
    record["config"] = {"stage": stage, "finetuning_type": "lora", "model_name_or_path": "models/missing",
                        "dataset": "demo_sft_train_data", "output_dir": record["output_dir"]}
    (run_dir / "run.json").write_text(json.dumps(record))
    for step in (10, 20):
        ckpt = ws.root / record["output_dir"] / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        (ckpt / "trainer_state.json").write_text(json.dumps(
            {"global_step": step, "max_steps": 40, "log_history": [{"step": step, "loss": 2.0 - step / 100}]}))
    return run_dir


async def test_resume_from_runs_lists_checkpoints_and_reports_a_refused_start(demo_ws, tmp_path):
    _with_checkpoints(demo_ws, "20260101-100000-sft-aaaa")
    app = _app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.switch_mode("runs")
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows, what="the runs")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeScreen), what="the resume dialog")
        dialog = app.screen
        options = [str(o.prompt) for o in dialog.query_one("OptionList").options]
        assert options[0].startswith("step 20 · loss 1.8000") and options[1].startswith("step 10")
        await pilot.press("enter")  # the recorded model is missing: pre-flight refuses, nothing starts
        await wait_until(pilot, lambda: "model folder not found" in str(dialog.query_one("#resume-error").render()),
                         what="the refusal")
        assert isinstance(app.screen, ResumeScreen)
        assert [r.id for r in list_runs(demo_ws.runs_dir)] == ["20260101-100000-sft-aaaa"]
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_resume_from_the_monitor_refuses_ppo_with_the_reason(demo_ws, tmp_path):
    _with_checkpoints(demo_ws, "20260101-100000-ppo-bbbb", stage="ppo")
    app = _app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.open_run("20260101-100000-ppo-bbbb")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen), what="the monitor")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResumeScreen), what="the resume dialog")
        assert "TRL's PPOTrainer" in str(app.screen.query_one("#resume-why").render())
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)


async def test_light_refresh_is_a_visible_choice_in_the_monitor(demo_ws, tmp_path):
    make_run(demo_ws, "20260101-100000-sft-cccc", steps=10, total=40)
    app = _app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.open_run("20260101-100000-sft-cccc")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen), what="the monitor")
        monitor = app.screen
        normal = (monitor.poll_interval, monitor.query_one("#gauges").interval)
        await pilot.press("l")
        assert monitor.light and monitor.poll_interval == 5.0 and monitor.query_one("#gauges").interval == 10.0
        assert monitor.query_one("#gauges").poller.interval == 10.0  # the running timer, not just the field
        assert "Light refresh" in monitor.sub_title
        await pilot.press("l")
        assert not monitor.light and (monitor.poll_interval, monitor.query_one("#gauges").interval) == normal
        assert monitor.query_one("#gauges").poller.interval == normal[1]
        assert monitor.sub_title == ""


async def test_a_run_training_on_the_cpu_opens_with_light_refresh(demo_ws, tmp_path):
    make_run(demo_ws, "20260101-100000-sft-dddd", status="running", steps=10, total=40)  # no GPU here
    app = _app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.open_run("20260101-100000-sft-dddd")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen), what="the monitor")
        monitor = app.screen
        await wait_until(pilot, lambda: monitor.light, what="light refresh")
        assert monitor.poll_interval == 5.0 and "Light refresh" in monitor.sub_title
        await pilot.press("l")  # the user can take the normal refresh back
        assert not monitor.light and monitor.poll_interval == 1.0


async def test_resume_of_a_run_whose_record_vanished_is_a_message_not_a_crash(demo_ws, tmp_path):
    import shutil

    _with_checkpoints(demo_ws, "20260101-100000-sft-eeee")
    app = _app(demo_ws, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.open_run("20260101-100000-sft-eeee")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen), what="the monitor")
        shutil.rmtree(demo_ws.runs_dir / "20260101-100000-sft-eeee")  # deleted by hand meanwhile
        await pilot.press("r")
        await wait_until(pilot, lambda: any("20260101-100000-sft-eeee" in n.message for n in app._notifications),
                         what="the message")
        assert isinstance(app.screen, MonitorScreen) and app.is_running
