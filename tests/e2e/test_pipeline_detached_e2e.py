"""Pipelines that survive the terminal, for real: ``medtui pipeline --detach`` with its starter
SIGKILLed and a TUI opened and quit meanwhile; foreground Ctrl-C (no further stage, exit 130) and
``--resume``; ``medtui stop PIPELINE --now``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from medtui.core.lifecycle.chain import read_state
from medtui.core.lifecycle.pipeline import load_pipeline
from medtui.core.runs.records import list_runs, load_run
from tests.conftest import ROOT, medtui_cli

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


def wait_until(predicate, timeout=300.0, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def popen(*args):
    return subprocess.Popen([sys.executable, "-m", "medtui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def pipeline_runs(ws):
    return [r for r in list_runs(ws.runs_dir) if r.kind == "pipeline"]


def runs_json(ws):
    proc = medtui_cli("runs", "--json", "--workspace", str(ws.root))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


TMUX = shutil.which("tmux")


def open_and_quit_the_tui(ws, tmp_path, expect: str = "PT Pre-Training") -> str:
    """medtui in a real terminal (tmux at 80x24): wait for Home, quit with ctrl+q; the screen it showed."""
    socket, session = f"medtui-e2e-{os.getpid()}", "e2e"
    env = {"PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color"}
    pid_file = tmp_path / "tui.pid"
    launcher = (f"import os,sys; open({str(pid_file)!r},'w').write(str(os.getpid())); "
                f"os.execv(sys.executable, [sys.executable, '-m', 'medtui', '--workspace', {str(ws.root)!r}])")

    def tmux(*args):
        return subprocess.run([TMUX, "-L", socket, *args], capture_output=True, text=True, timeout=30)

    try:
        assert tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                    *[f"-e{k}={v}" for k, v in env.items()], "--", sys.executable, "-c", launcher).returncode == 0
        screen = wait_until(lambda: (lambda out: out if expect in out else None)(
            tmux("capture-pane", "-p", "-t", session).stdout), timeout=60, every=0.3)
        tmux("send-keys", "-t", session, "C-q")
        pid = int(pid_file.read_text())
        wait_until(lambda: not _alive(pid), timeout=30, every=0.2)
        return screen
    finally:
        tmux("kill-server")


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_a_detached_pipeline_survives_its_starter_and_the_tui(demo_ws, tmp_path):
    starter = popen("pipeline", "demo", "--detach", "--workspace", str(demo_ws.root))
    pipe = wait_until(lambda: pipeline_runs(demo_ws), timeout=60)[0]
    starter.send_signal(signal.SIGKILL)  # the SSH session drops while medtui is starting the chain
    starter.wait()
    assert pipe.is_running
    open_and_quit_the_tui(demo_ws, tmp_path)
    assert load_run(pipe.run_dir).is_running  # quitting medtui cancels nothing

    def finished():
        runs = runs_json(demo_ws)  # a brand-new process every time
        top = next(r for r in runs if r["id"] == pipe.id)
        return runs if top["status"] != "running" else None

    runs = wait_until(finished, timeout=1800, every=5.0)
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
    assert len([r for r in runs if r["kind"] in ("train", "export")]) == len(names)
    table = medtui_cli("runs", "--workspace", str(demo_ws.root)).stdout
    assert table.count(" succeeded ") == len(names) + 1


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
