"""Runs on a real single-node Slurm cluster (.ci/slurm-up): submit, follow, a 2-task torchrun job, graceful
stop, cancelling a queued job and a job Slurm refuses. Real llamafactory training on the demo model.

The cluster is started for the session when it is not up already (and stopped at the end, by the PIDs
.ci/slurm-up recorded); the tests skip, saying why, only where Slurm cannot start.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import yaml

from medtui.core.runs.records import list_runs, load_run
from medtui.core.slurm import commands
from tests.conftest import ROOT, medtui_cli

pytestmark = pytest.mark.e2e


def _slurm_answers() -> bool:
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "up" in proc.stdout


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A Slurm cluster to submit to: the one already up, or one this session starts and stops."""
    if _slurm_answers():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("Slurm is not running here and starting it (.ci/slurm-up) needs root")
    state = tmp_path_factory.mktemp("slurm") / "daemons.pids"
    env = dict(os.environ, MEDTUI_SLURM_STATE=str(state))
    try:
        proc = subprocess.run([str(ROOT / ".ci" / "slurm-up")], env=env, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip("Slurm could not be started here: .ci/slurm-up took over 15 minutes")
    if proc.returncode != 0 or not _slurm_answers():
        subprocess.run([str(ROOT / ".ci" / "slurm-down")], env=env, timeout=60)
        why = (proc.stderr.strip().splitlines() or ["sinfo does not answer"])[-1]
        pytest.skip(f"Slurm cannot start here: {why}")
    yield
    subprocess.run([str(ROOT / ".ci" / "slurm-down")], env=env, timeout=60)


@pytest.fixture
def slurm_ws(slurm, demo_ws):
    """A demo workspace whose Slurm jobs are cancelled after the test, whatever happened."""
    yield demo_ws
    for run in list_runs(demo_ws.runs_dir):
        if run.backend == "slurm" and run.record.get("job_id"):
            commands.cancel(run.record["job_id"])


def sft_config(ws, name: str, **over) -> str:
    cfg = {"stage": "sft", "finetuning_type": "lora", "model_name_or_path": "models/workflow-demo-tiny-qwen2",
           "dataset": "demo_sft_train_data", "template": "default", "output_dir": f"saves/slurm/{name}",
           "cutoff_len": 64, "per_device_train_batch_size": 2, "max_steps": 3, "logging_steps": 1,
           "save_steps": 1000, "preprocessing_num_workers": 1, "overwrite_output_dir": True, "lora_rank": 4,
           "report_to": "none"}
    cfg.update(over)
    path = ws.root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def only_run(ws):
    runs = list_runs(ws.runs_dir)
    assert len(runs) == 1, [r.id for r in runs]
    return runs[0]


def wait_until(predicate, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


def test_sft_job_is_followed_to_success_with_a_saved_adapter(slurm_ws):
    ws = slurm_ws
    proc = medtui_cli("train", sft_config(ws, "one"), "--slurm", "--workspace", str(ws.root), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run(ws)
    assert f"as Slurm job {run.job_id}" in proc.stdout
    assert f"{run.id}: running (job {run.job_id} on " in proc.stdout  # followed through Slurm's states
    assert "step 3/3" in proc.stdout and f"{run.id}: succeeded" in proc.stdout
    assert (run.output_dir / "adapter_model.safetensors").is_file()
    record = run.record
    assert (record["backend"], record["status"], record["slurm_state"], record["exit_code"]) == \
        ("slurm", "succeeded", "COMPLETED", 0)
    assert record["nodes"] and record["job_started"]
    assert record["launch"]["launch_on"] == "slurm"  # what a resume (issue 13) re-launches with
    script = (run.run_dir / "job.sbatch").read_text()
    assert "srun --kill-on-bad-exit=1" in script and "torch.distributed.run" not in script
    stdout = (run.run_dir / "stdout.log").read_text()  # the job's output is in the run folder
    assert f"medtui: job {run.job_id} on " in stdout and "'loss'" in stdout
    assert "trainer.py" in (run.run_dir / "stderr.log").read_text()
    listed = json.loads(medtui_cli("runs", "--json", "--workspace", str(ws.root)).stdout)
    assert listed[0]["backend"] == "slurm" and listed[0]["job_id"] == run.job_id and listed[0]["nodes"]


def test_two_tasks_each_one_torchrun_node(slurm_ws):
    """NNODES=2 with NODE_RANK=$SLURM_PROCID: both agents rendezvous on this host, gloo on the CPU."""
    ws = slurm_ws
    proc = medtui_cli("train", sft_config(ws, "two"), "--slurm", "--nodes", "2",
                      "--sbatch-arg=--nodes=1", "--sbatch-arg=--ntasks-per-node=2", "--workspace", str(ws.root),
                      timeout=600)
    run = only_run(ws)
    stderr = (run.run_dir / "stderr.log").read_text()
    assert proc.returncode == 0, proc.stdout + proc.stderr + stderr[-3000:]
    stdout = (run.run_dir / "stdout.log").read_text()
    assert "2 node(s) x 1" in stdout
    assert "Process rank: 0, world size: 2" in stdout and "Process rank: 1, world size: 2" in stdout
    assert (run.output_dir / "adapter_model.safetensors").is_file()
    assert load_run(run.run_dir).status == "succeeded"


def test_graceful_stop_of_a_running_job_saves_the_adapter(slurm_ws):
    ws = slurm_ws
    proc = medtui_cli("train", sft_config(ws, "long", max_steps=100000), "--slurm", "--detach",
                      "--workspace", str(ws.root), timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = only_run(ws)
    log = run.output_dir / "trainer_log.jsonl"
    wait_until(lambda: log.is_file() and len(log.read_text().splitlines()) >= 2, 300, "two training steps")
    stop = medtui_cli("stop", run.id, "--workspace", str(ws.root), timeout=300)
    assert stop.returncode == 0, stop.stderr
    assert f"scancel --signal=ABRT {run.job_id}" in stop.stderr
    # The same words as a local stop (runs.states): stopped, and what the final save left.
    assert stop.stdout.strip().startswith(f"{run.id}: stopped (saved the model"), stop.stdout
    final = load_run(run.run_dir)
    assert final.status == "stopped" and final.record["slurm_state"] == "COMPLETED"  # it saved and ended itself
    assert (run.output_dir / "adapter_model.safetensors").is_file()
    steps = len(log.read_text().splitlines())
    assert steps < 100000


def test_cancel_a_pending_job(slurm_ws):
    ws = slurm_ws
    proc = medtui_cli("train", sft_config(ws, "later"), "--slurm", "--detach", "--sbatch-arg=--begin=now+1hour",
                      "--workspace", str(ws.root), timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = only_run(ws)
    from medtui.core.runs import backend

    state = backend.status(load_run(run.run_dir))
    assert state.status == "pending"
    assert "Slurm: PENDING (BeginTime), expected start " in state.reason
    listing = medtui_cli("runs", "--workspace", str(ws.root)).stdout
    assert "pending" in listing and f"slurm {run.job_id}" in listing and "queued: BeginTime" in listing
    # The queued job holds its output folder: a local run into it is refused.
    clash = medtui_cli("train", sft_config(ws, "later"), "--workspace", str(ws.root), timeout=300)
    assert clash.returncode == 2
    assert f"Slurm job {run.job_id} (run {run.id}) is already writing to" in clash.stderr
    stop = medtui_cli("stop", run.id, "--workspace", str(ws.root), timeout=120)
    assert stop.returncode == 0 and stop.stdout.strip() == f"{run.id}: stopped (nothing saved yet)", stop.stderr
    assert "the job had not started" in stop.stderr
    info = commands.show_job(run.job_id)
    assert info is None or info.state == "CANCELLED"
    assert not (run.output_dir / "trainer_log.jsonl").exists()


def test_a_job_slurm_refuses(slurm_ws):
    ws = slurm_ws
    proc = medtui_cli("train", sft_config(ws, "bad"), "--slurm", "--partition", "nope", "--workspace", str(ws.root))
    assert proc.returncode == 2
    assert "slurm_partition: partition 'nope' does not exist (sinfo lists: debug)" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Past pre-flight, sbatch itself refuses: Slurm's reason, exit 2, and no run left behind.
    proc = medtui_cli("train", sft_config(ws, "bad"), "--slurm", "--sbatch-arg=--mem=99999999",
                      "--workspace", str(ws.root))
    assert proc.returncode == 2
    assert "Slurm refused the job: Memory specification can not be satisfied" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list_runs(ws.runs_dir) == []


def test_a_job_that_fails_reads_failed_with_slurms_exit_state(slurm_ws):
    ws = slurm_ws
    proc = medtui_cli("train", sft_config(ws, "fails", lora_target="no_such_module"), "--slurm",
                      "--workspace", str(ws.root), timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    run = load_run(only_run(ws).run_dir)
    assert run.status == "failed" and run.record["slurm_state"] == "FAILED"
    assert "Slurm: FAILED (exit code 1)" in run.reason()
    assert run.record["diagnosis"]["evidence"]  # diagnosed like a local run, when the end was first seen
    assert run.record["notified"]
    assert f"{run.id}: failed" in proc.stdout


def test_a_pipeline_runs_every_stage_on_slurm(slurm_ws):
    ws = slurm_ws
    pipeline = {
        "name": "on-slurm",
        "defaults": {"template": "default", "cutoff_len": 64, "max_steps": 2, "logging_steps": 1, "save_steps": 1000,
                     "preprocessing_num_workers": 1, "overwrite_output_dir": True, "report_to": "none",
                     "per_device_train_batch_size": 2, "lora_rank": 4},
        "stages": [
            {"name": "sft", "stage": "sft", "finetuning_type": "lora", "dataset": "demo_sft_train_data",
             "model_name_or_path": "models/workflow-demo-tiny-qwen2", "output_dir": "saves/slurm/pipe-sft"},
            {"name": "export", "stage": "export", "export_from": "sft", "export_dir": "saves/slurm/pipe-merged",
             "export_size": 1, "export_device": "cpu"},
        ],
    }
    path = ws.root / "pipeline-slurm.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    proc = medtui_cli("pipeline", str(path), "--slurm", "--workspace", str(ws.root), timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The chain is a run of its own (kind pipeline) on this machine; each stage is a Slurm job.
    chain = [r for r in list_runs(ws.runs_dir) if r.kind == "pipeline"]
    runs = [r for r in list_runs(ws.runs_dir) if r.kind != "pipeline"]
    assert len(chain) == 1 and chain[0].backend == "local" and chain[0].status == "succeeded"
    assert sorted(r.stage for r in runs) == ["export", "sft"]
    assert all(r.backend == "slurm" and r.job_id and r.status == "succeeded" for r in runs)
    assert all(r.record.get("pipeline_run") == chain[0].id for r in runs)
    assert (ws.root / "saves/slurm/pipe-merged/config.json").is_file()


async def test_tui_submits_to_slurm_follows_the_queue_and_cancels(slurm_ws, tmp_path):
    """Train form with Launch on: Slurm → Start → the Monitor shows the queued job, its reason and job id;
    Runs lists it; Stop cancels it."""
    from textual.widgets import Collapsible, DataTable, Static

    from medtui.core.lifecycle.prefill import prefill
    from medtui.tui.app import MedtuiApp
    from medtui.tui.screens.confirm import ConfirmScreen
    from medtui.tui.screens.runs.monitor import MonitorScreen
    from medtui.tui.screens.train.fields import FieldRow
    from tests.tui_helpers import wait_until as ui_wait

    ws = slurm_ws
    config = {**prefill(ws, "sft"), "max_steps": 2, "launch_on": "slurm", "slurm_sbatch_args": "--begin=now+1hour"}
    app = MedtuiApp(ws, lang="en", settings_path=tmp_path / "config.json")
    async with app.run_test(size=(100, 40)) as pilot:
        await app.open_train(config)
        await ui_wait(pilot, lambda: app.current_mode == "train" and app.screen.ready, what="the Train form")
        train = app.screen
        train.query_one("#sec-distributed", Collapsible).collapsed = False
        await ui_wait(pilot, lambda: bool(train.query("#row-slurm_sbatch_args")), what="the Slurm fields")
        assert train.query_one("#row-slurm_sbatch_args", FieldRow).value == "--begin=now+1hour"
        await pilot.press("ctrl+r")
        await ui_wait(pilot, lambda: isinstance(app.screen, MonitorScreen), timeout=180, what="the run's monitor")
        monitor = app.screen
        run = only_run(ws)
        assert run.backend == "slurm" and (run.run_dir / "job.sbatch").is_file()

        def status_line() -> str:
            return str(monitor.query_one("#status", Static).render())

        await ui_wait(pilot, lambda: "pending" in status_line() and "BeginTime" in status_line(), timeout=30,
                      what="the queued state")
        assert f"Slurm job {run.job_id}" in status_line() and "expected start" in status_line()

        await pilot.press("s")
        await ui_wait(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        question = str(app.screen.query_one("#confirm-question").render())
        assert f"Cancel queued run {run.id} (Slurm job {run.job_id})" in question
        await pilot.press("y")
        await ui_wait(pilot, lambda: "stopped" in status_line(), timeout=60, what="the cancelled job")
        await pilot.press("escape")
        await ui_wait(pilot, lambda: app.current_mode == "runs" and not isinstance(app.screen, MonitorScreen),
                      what="the Runs list")
        table = app.screen.query_one(DataTable)

        def cells() -> list[str]:
            return [str(c) for c in table.get_row_at(0)] if table.row_count == 1 else []

        await ui_wait(pilot, lambda: "stopped" in cells(), timeout=10, what="the run's row, stopped")
        assert f"job {run.job_id}" in cells()
    info = commands.show_job(run.job_id)
    assert info is None or info.state == "CANCELLED"


def test_resume_resubmits_a_stopped_slurm_run_from_its_latest_checkpoint(slurm_ws):
    """Issue 13's `medtui resume` on a Slurm run: a new Slurm job continues from the latest checkpoint."""
    ws = slurm_ws
    proc = medtui_cli("train", sft_config(ws, "resume", max_steps=100000, save_steps=2), "--slurm", "--detach",
                      "--workspace", str(ws.root), timeout=120)
    assert proc.returncode == 0, proc.stderr
    first = only_run(ws)
    wait_until(lambda: (first.output_dir / "checkpoint-4").is_dir(), 300, "checkpoint-4")
    assert medtui_cli("stop", first.id, "--workspace", str(ws.root), timeout=300).returncode == 0
    # the run may have saved more checkpoints before the stop took: resume 4 steps past the latest
    latest = max(int(p.name.split("-", 1)[1]) for p in first.output_dir.glob("checkpoint-*")
                 if p.name.split("-", 1)[1].isdigit())
    target = latest + 4
    proc = medtui_cli("resume", first.id, "--set", f"max_steps={target}", "--workspace", str(ws.root), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = next(r for r in list_runs(ws.runs_dir) if r.id != first.id)
    assert second.backend == "slurm" and second.job_id != first.job_id and second.status == "succeeded"
    assert second.record["resumed_from"]["run"] == first.id
    assert second.record["config"]["resume_from_checkpoint"].endswith("checkpoint-" +
                                                                        str(second.record["resumed_from"]["step"]))
    assert second.record["resumed_from"]["step"] == latest
    assert f"step {target}/{target}" in proc.stdout
