"""Real llamafactory runs: detached survival, graceful stop, hard stop, locks, vanished processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml

from medtui.core.errors import MedtuiError
from medtui.core.runs import runner
from medtui.core.runs.records import list_runs, load_run
from medtui.core.stages.builder import build_plan
from tests.conftest import ROOT, medtui_cli

pytestmark = pytest.mark.e2e


def long_sft(output_dir="saves/long/sft", **over):
    cfg = {"stage": "sft", "finetuning_type": "lora", "model_name_or_path": "models/workflow-demo-tiny-qwen2",
           "dataset": "demo_sft_train_data", "template": "default", "output_dir": output_dir, "cutoff_len": 64,
           "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "max_steps": 100000,
           "logging_steps": 1, "save_steps": 100000, "preprocessing_num_workers": 1, "overwrite_output_dir": True,
           "lora_rank": 4, "learning_rate": 1e-4}
    cfg.update(over)
    return cfg


def wait_until(predicate, timeout=120.0, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def log_lines(run):
    try:
        return len(run.trainer_log.read_text().splitlines())
    except FileNotFoundError:
        return 0


def start_long(ws, **over):
    run = runner.start(build_plan(long_sft(**over), ws), ws)
    wait_until(lambda: log_lines(run) >= 3)
    return run


def group_members(pgid):
    out = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            pass
    return out


def test_graceful_stop_saves_and_the_output_is_locked_meanwhile(demo_ws):
    run = start_long(demo_ws)
    assert run.status == "running" and run.record["versions"]["llamafactory"]
    with pytest.raises(MedtuiError, match="already writing"):
        runner.start(build_plan(long_sft(), demo_ws), demo_ws)
    proc = medtui_cli("stop", run.id, "--workspace", str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    final = load_run(run.run_dir)
    assert final.status == "stopped"
    assert (final.output_dir / "adapter_model.safetensors").is_file()  # the trainer saved before stopping
    assert final.reason().startswith("saved the model at step ")
    assert "stopped (saved the model" in proc.stdout
    steps = [json.loads(x)["current_steps"] for x in final.trainer_log.read_text().splitlines()]
    assert steps[-1] < 100000
    assert not runner.output_locked(demo_ws, final.output_dir)


def test_hard_stop_leaves_no_process_of_the_group(demo_ws):
    run = start_long(demo_ws, output_dir="saves/long/kill")
    pgid = run.record["pid"]
    child = run.record["child_pid"]
    assert child in group_members(pgid)
    proc = medtui_cli("stop", run.id, "--kill", "--workspace", str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    assert group_members(pgid) == []
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    final = load_run(run.run_dir)
    assert final.status == "killed" and final.record["signal"] == "SIGKILL"
    assert "nothing saved" in final.reason()


def test_a_run_whose_processes_vanish_reads_as_failed(demo_ws):
    run = start_long(demo_ws, output_dir="saves/long/vanish")
    os.killpg(run.record["pid"], signal.SIGKILL)  # as if the machine's OOM killer struck
    wait_until(lambda: not group_members(run.record["pid"]), timeout=20)
    fresh = load_run(run.run_dir)
    assert fresh.status == "failed"
    assert fresh.reason().startswith("supervisor vanished")


def test_run_survives_its_starter_being_killed(demo_ws, tmp_path):
    cfg = long_sft(output_dir="saves/short/sft", max_steps=15)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    starter = subprocess.Popen([sys.executable, "-m", "medtui", "train", str(path), "--workspace", str(demo_ws.root)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wait_until(lambda: list_runs(demo_ws.runs_dir), timeout=60)
    starter.send_signal(signal.SIGKILL)  # the SSH session drops, medtui dies
    starter.wait()
    # A brand-new process sees the run through to the end.
    def finished():
        proc = medtui_cli("runs", "--json", "--workspace", str(demo_ws.root))
        runs = json.loads(proc.stdout)
        return runs if runs and runs[0]["status"] != "running" else None

    runs = wait_until(finished, timeout=180, every=1.0)
    assert runs[0]["status"] == "succeeded", runs
    assert {"id", "stage", "status", "output_dir", "started", "ended"} <= set(runs[0])
    assert (demo_ws.root / "saves/short/sft/adapter_model.safetensors").is_file()


def test_detach_returns_at_once_and_logs_follow_to_the_end(demo_ws, tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(long_sft(output_dir="saves/detached", max_steps=5)))
    proc = medtui_cli("train", str(path), "--detach", "--workspace", str(demo_ws.root))
    assert proc.returncode == 0 and "detached" in proc.stdout
    run_id = proc.stdout.split()[1]
    logs = medtui_cli("logs", run_id, "-f", "--stderr", "--workspace", str(demo_ws.root))
    assert logs.returncode == 0
    assert load_run(demo_ws.runs_dir / run_id).status == "succeeded"
    assert "Training completed" in logs.stdout or "train_loss" in logs.stdout or "***** train metrics" in (
        logs.stdout + (demo_ws.runs_dir / run_id / "stdout.log").read_text())


TREE = """
import subprocess, sys, time, pathlib
# like torchrun: a worker in a session of its own, outside the run's process group
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
pathlib.Path(sys.argv[1]).write_text(str(worker.pid))
time.sleep(600)
"""


@pytest.mark.parametrize("kill", [False, True])
def test_stop_reaches_workers_that_left_the_process_group(tmp_path, kill):
    from medtui.core.runs.plan import RunPlan
    from medtui.core.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    pid_file = tmp_path / "worker.pid"
    run_dir = ws.runs_dir / f"tree-{kill}"
    plan = RunPlan(run_id=run_dir.name, stage="sft", run_dir=run_dir, yaml_config={},
                   argv=[sys.executable, "-c", TREE, str(pid_file)], env={}, cwd=ws.root,
                   output_dir=tmp_path / f"out-{kill}")
    run = runner.start(plan, ws)
    worker = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=30))
    assert os.getpgid(worker) != run.record["pid"]
    final = runner.stop(load_run(run.run_dir), kill=kill, grace=3, term_grace=3)
    assert final.status == ("killed" if kill else "stopped")
    assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
