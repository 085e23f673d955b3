"""Pipelines that survive the terminal, for real: ``medtui pipeline --detach`` with its starter
SIGKILLed and a TUI opened and quit meanwhile; foreground Ctrl-C (no further stage, exit 130) and
``--resume``; ``medtui stop PIPELINE --now``."""

from __future__ import annotations

import json
import signal

import pytest

from medtui.core.lifecycle.chain import read_state
from medtui.core.lifecycle.pipeline import load_pipeline
from medtui.core.runs.records import list_runs, load_run
from tests.conftest import medtui_cli
from tests.survival import FACTS, TMUX, popen, wait_until

pytestmark = pytest.mark.e2e

TWO_SFT = """
name: two
defaults:
  template: default
  cutoff_len: 32
  max_samples: 16
  per_device_train_batch_size: 2
  logging_steps: 1
  save_steps: 100000
  preprocessing_num_workers: 1
  report_to: none
  overwrite_output_dir: true
  bf16: false
  lora_rank: 4
  finetuning_type: lora
  model_name_or_path: models/workflow-demo-tiny-qwen2
  dataset: demo_sft_train_data
stages:
  - name: first
    stage: sft
    max_steps: {first}
    output_dir: saves/two/first
  - name: second
    stage: sft
    max_steps: {second}
    output_dir: saves/two/second
"""


def pipeline_runs(ws):
    return [r for r in list_runs(ws.runs_dir) if r.kind == "pipeline"]


def runs_json(ws):
    proc = medtui_cli("runs", "--json", "--workspace", str(ws.root))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_a_detached_pipeline_survives_its_starter_and_the_tui(trained_ws):
    """trained_ws ran ``pipeline demo --detach``, SIGKILLed the starter and opened and quit medtui in
    tmux while the chain ran (tests/survival.py); here: it survived both and every stage succeeded."""
    assert FACTS["starter_killed"] and FACTS["running_after_starter_died"]
    assert "PT Pre-Training" in FACTS["tui_screen"] and FACTS["running_after_tui_quit"]
    pipe = load_run(trained_ws.runs_dir / FACTS["pipeline_id"])
    runs = runs_json(trained_ws)  # a brand-new process
    by_id = {r["id"]: r for r in runs}
    assert by_id[pipe.id]["status"] == "succeeded", by_id[pipe.id]
    assert by_id[pipe.id]["kind"] == "pipeline"
    state = read_state(pipe.run_dir)
    names = [s.name for s in load_pipeline("demo").stages]
    assert [s["name"] for s in state["stages"]] == names
    for entry in state["stages"]:
        assert entry["status"] == "succeeded", entry
        stage_run = by_id[entry["run_id"]]
        assert stage_run["status"] == "succeeded" and stage_run["pipeline"] == "demo"
        assert stage_run["kind"] in ("train", "export") and stage_run["pipeline_run"] == pipe.id
    ours = {pipe.id, *(entry["run_id"] for entry in state["stages"])}
    table = medtui_cli("runs", "--workspace", str(trained_ws.root)).stdout.splitlines()
    rows = [ln for ln in table if ln.split(" ", 1)[0] in ours]
    assert len(rows) == len(names) + 1 and all(" succeeded " in ln for ln in rows), table


def test_ctrl_c_in_the_foreground_stops_launching_and_resume_finishes(demo_ws, tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(TWO_SFT.format(first=12, second=2))
    proc = popen("pipeline", str(path), "--workspace", str(demo_ws.root))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("[sft] step"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "no further stage will start" in err
    assert "medtui stop 20" in err and f"medtui pipeline {path} --resume" in err
    pipe = pipeline_runs(demo_ws)[0]
    final = wait_until(lambda: (lambda r: r if not r.is_running else None)(load_run(pipe.run_dir)), timeout=600)
    assert final.status == "stopped", final.reason()
    assert final.reason().startswith("stopped after stage first (1 of 2 stages done); resume with:")
    state = read_state(pipe.run_dir)
    assert [s["status"] for s in state["stages"]] == ["succeeded", "pending"]  # the running stage finished
    first_run = state["stages"][0]["run_id"]

    resumed = medtui_cli("pipeline", str(path), "--resume", "--workspace", str(demo_ws.root), timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert f"== first: skipped, succeeded earlier in run {first_run}" in resumed.stdout
    assert "== second (sft)" in resumed.stdout and "1 skipped" in resumed.stdout
    newest = pipeline_runs(demo_ws)[0]
    assert newest.status == "succeeded" and newest.id != pipe.id


def test_stop_now_stops_the_running_stage_gracefully(demo_ws, tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(TWO_SFT.format(first=100000, second=2))
    started = medtui_cli("pipeline", str(path), "--detach", "--workspace", str(demo_ws.root))
    assert started.returncode == 0, started.stderr
    pipe = pipeline_runs(demo_ws)[0]

    def training():
        state = read_state(pipe.run_dir)
        run_id = state.get("stages", [{}])[0].get("run_id")
        if not run_id:
            return None
        run = load_run(demo_ws.runs_dir / run_id)
        return run if run.trainer_log.exists() and len(run.trainer_log.read_text().splitlines()) >= 2 else None

    stage_run = wait_until(training, timeout=300)
    stop = medtui_cli("stop", pipe.id, "--now", "--workspace", str(demo_ws.root), timeout=300)
    assert stop.returncode == 0, stop.stderr
    assert f"{pipe.id}: stopped (stopped before its first stage finished (0 of 2 stages done); resume with: " \
           f"medtui pipeline {path} --resume)" in stop.stdout
    stage_final = load_run(stage_run.run_dir)
    assert stage_final.status == "stopped" and stage_final.reason().startswith("saved the model at step")
    final = load_run(pipe.run_dir)
    assert final.status == "stopped"
    assert [s["status"] for s in read_state(pipe.run_dir)["stages"]] == ["stopped", "pending"]
    assert not [r for r in list_runs(demo_ws.runs_dir) if r.stage == "sft" and r.id != stage_run.id]


async def test_homes_queue_is_a_detached_pipeline_that_outlives_the_app(demo_ws, tmp_path):
    """Home's p on a workspace with a pipeline.yaml, then quit medtui at once: the chain still completes."""
    from medtui.tui.app import MedtuiApp
    from medtui.tui.screens.confirm import ConfirmScreen
    from medtui.tui.screens.home import HomeScreen
    from tests.tui_helpers import wait_until as pilot_wait

    (demo_ws.root / "pipeline.yaml").write_text(TWO_SFT.format(first=3, second=2))
    app = MedtuiApp(demo_ws, lang="en", settings_path=tmp_path / "settings.json")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot_wait(pilot, lambda: isinstance(app.screen, HomeScreen), what="Home")
        await pilot.press("p")
        await pilot_wait(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        shown = str(app.screen.query_one("#confirm-question").render()) + str(
            app.screen.query_one("#confirm-detail").render())
        assert "first → second" in shown and "stops no stage" in shown
        await pilot.press("y")
        await pilot_wait(pilot, lambda: any("started as run" in n.message for n in app._notifications),
                         timeout=60, what="the start")
        await pilot_wait(pilot, lambda: app.screen.queue_status.startswith("▶ pipeline two:"), timeout=60,
                         what="the status line")
    pipe = pipeline_runs(demo_ws)[0]
    assert load_run(pipe.run_dir).is_running  # the app is gone; the chain is not
    final = wait_until(lambda: (lambda r: r if not r.is_running else None)(load_run(pipe.run_dir)), timeout=900)
    assert final.status == "succeeded", final.reason()
    assert [s["status"] for s in read_state(pipe.run_dir)["stages"]] == ["succeeded", "succeeded"]
