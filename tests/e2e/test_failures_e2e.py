"""Real failures of real llamafactory runs on the demo model, and what the supervisor records about them:
the diagnosis (one test per cause this machine can produce), live alerts and the notification hook.

Runs that pre-flight would refuse are started with ``runner.start`` directly, as a config edited by
hand and run with the supervisor would be: the point is how medtui explains llamafactory's failure.
Causes this machine cannot produce (CUDA OOM, NCCL) are tested on upstream excerpts in
tests/unit/test_diagnosis.py.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medtui.core import notify
from medtui.core.runs import runner
from medtui.core.runs.records import load_run, read_record
from medtui.core.stages.builder import build_plan
from tests.conftest import ROOT, medtui_cli

MODEL = "models/workflow-demo-tiny-qwen2"


def config(**over):
    cfg = {"stage": "sft", "finetuning_type": "lora", "model_name_or_path": MODEL, "dataset": "demo_sft_train_data",
           "template": "default", "output_dir": "saves/fail", "save_steps": 1000, "logging_steps": 1,
           "per_device_train_batch_size": 1, "gradient_accumulation_steps": 1, "max_steps": 8,
           "preprocessing_num_workers": 1, "report_to": "none"}
    cfg.update(over)
    return cfg


def start(ws, env: dict | None = None, **over):
    plan = build_plan(config(**over), ws)
    plan.env.update(env or {})
    return runner.start(plan, ws)


def finished(run, timeout: float = 600) -> dict:
    """The run's final record, once the supervisor has also sent its notifications."""
    runner.wait(run, timeout=timeout)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = read_record(run.run_dir)
        if record.get("notified"):
            return record
        time.sleep(0.1)
    raise AssertionError(f"no notification recorded:\n{(run.run_dir / 'supervisor.log').read_text()[-2000:]}")


def trainer_lines(run) -> list[dict]:
    path = load_run(run.run_dir).trainer_log
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []


def assert_shown_everywhere(ws, record, cause):
    """The diagnosis reaches `medtui runs` (a column), `runs --json` and `medtui logs RUN`."""
    table = medtui_cli("runs", "--workspace", str(ws.root))
    row = next(ln for ln in table.stdout.splitlines() if ln.startswith(record["id"]))
    assert "WHY" in table.stdout.splitlines()[0] and f" {cause} " in row, table.stdout
    rows = json.loads(medtui_cli("runs", "--json", "--workspace", str(ws.root)).stdout)
    assert next(r for r in rows if r["id"] == record["id"])["diagnosis"]["cause"] == cause
    logs = medtui_cli("logs", record["id"], "--workspace", str(ws.root))
    assert f"diagnosis: {cause}: {record['diagnosis']['reason']}" in logs.stderr, logs.stderr[-2000:]


@pytest.mark.parametrize("nan_filter", [True, False], ids=["filter-on-loss-0.0", "filter-off-NaN"])
def test_nan_from_an_absurd_learning_rate_is_flagged_live_and_diagnosed(demo_ws, nan_filter):
    """lr 1e20 without clipping: with the Trainer's logging_nan_inf_filter (default) the log says loss 0.0
    from step 2; without it, NaN. Either way run.json has the alert while the run is still logging
    (the overseer polls every 0.25 s; how many lines that is depends on the load, so the test checks the
    alert's step and that it came while the run was running, not a line count)."""
    extra = {} if nan_filter else {"logging_nan_inf_filter": False}
    run = start(demo_ws, finetuning_type="full", learning_rate=1e20, max_grad_norm=0, max_steps=12,
                gradient_accumulation_steps=4, **extra)
    lines_when_flagged = None
    while load_run(run.run_dir).is_running:
        alerts = read_record(run.run_dir).get("alerts") or []
        if any(a["kind"] == "nan_loss" for a in alerts):
            lines_when_flagged = len(trainer_lines(run))
            break
        time.sleep(0.05)
    record = finished(run)
    lines = trainer_lines(run)
    bad = next(i for i, rec in enumerate(lines, start=1)
               if rec.get("loss") == 0.0 or not math.isfinite(float(rec.get("loss", 0))))
    assert (lines[bad - 1]["loss"] == 0.0) == nan_filter
    assert lines_when_flagged is not None, "the run ended before run.json had the alert"
    assert lines_when_flagged >= bad, (lines_when_flagged, bad)
    alert = next(a for a in record["alerts"] if a["kind"] == "nan_loss")
    assert alert["step"] == lines[bad - 1]["current_steps"]
    assert record["status"] == "succeeded" and record["diagnosis"]["cause"] == "nan_loss"
    assert_shown_everywhere(demo_ws, record, "nan_loss")


def test_a_signal_death_names_the_signal(demo_ws):
    run = start(demo_ws, max_steps=2000)
    deadline = time.monotonic() + 300
    while not trainer_lines(run):
        assert time.monotonic() < deadline and load_run(run.run_dir).is_running
        time.sleep(0.2)
    os.kill(read_record(run.run_dir)["child_pid"], signal.SIGKILL)  # not a medtui stop: nobody asked
    record = finished(run)
    assert record["status"] == "failed" and record["diagnosis"]["cause"] == "signal"
    assert record["diagnosis"]["signal"] == "SIGKILL" and "OOM" not in record["diagnosis"]["reason"]
    assert_shown_everywhere(demo_ws, record, "signal")


def _memory_cgroup(limit: int) -> Path | None:
    """A fresh memory cgroup (v1 or v2) limited to ``limit`` bytes, or None when this machine cannot."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder, limit_file = Path("/sys/fs/cgroup/memory") / path.lstrip("/"), "memory.limit_in_bytes"
            break
    else:
        folder, limit_file = Path("/sys/fs/cgroup") / Path("/proc/self/cgroup").read_text().split("::", 1)[-1] \
            .strip().lstrip("/"), "memory.max"
    child = folder / f"medtui-test-{os.getpid()}"
    try:
        child.mkdir()
        (child / limit_file).write_text(str(limit))
    except OSError:
        return None
    return child


def test_the_kernel_oom_killer_is_named(demo_ws, tmp_path):
    """The run lives in a memory cgroup too small for torch: the kernel's OOM killer ends the trainer."""
    cgroup = _memory_cgroup(300 << 20)
    if cgroup is None:
        pytest.skip("cannot create a memory cgroup here (needs root and a writable cgroup tree)")
    try:
        starter = ("import sys, json; from medtui.core.workspace import Workspace; "
                   "from medtui.core.stages.builder import build_plan; from medtui.core.runs import runner; "
                   "ws = Workspace.open(sys.argv[1]); print(runner.start(build_plan(json.loads(sys.argv[2]), ws), ws).id)")
        proc = subprocess.run([sys.executable, "-c", starter, str(demo_ws.root), json.dumps(config())],
                              capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              preexec_fn=lambda: (cgroup / "cgroup.procs").write_text(str(os.getpid())))
        assert proc.returncode == 0, proc.stderr
        run = load_run(demo_ws.runs_dir / proc.stdout.strip())
        record = finished(run)
    finally:
        for _ in range(50):
            try:
                cgroup.rmdir()
                break
            except OSError:
                time.sleep(0.2)
    diagnosis = record["diagnosis"]
    assert record["status"] == "failed" and diagnosis["cause"] == "oom_killer", diagnosis
    assert diagnosis["signal"] == "SIGKILL" and "likely the kernel OOM killer" in diagnosis["reason"]
    assert f"Killed process {record['child_pid']}" in " ".join(diagnosis["evidence"])


def test_disk_full_at_checkpoint_time(demo_ws, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        run = start(demo_ws, finetuning_type="full", save_steps=2, output_dir=str(mount / "sft"))
        record = finished(run)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    assert record["status"] == "failed" and record["diagnosis"]["cause"] == "disk_full", record["diagnosis"]
    assert any(a["kind"] == "disk_low" for a in record["alerts"])  # seen before the save failed
    assert_shown_everywhere(demo_ws, record, "disk_full")


def test_insufficient_samples(demo_ws):
    run = start(demo_ws, stage="pt", finetuning_type="full", dataset="custom_pt_train_data", cutoff_len=1024)
    record = finished(run)
    assert record["diagnosis"]["cause"] == "insufficient_samples"
    assert "Cannot find sufficient samples" in record["diagnosis"]["evidence"][-1]
    assert_shown_everywhere(demo_ws, record, "insufficient_samples")


HOOK = """
import json, os, sys
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps({"stdin": json.load(sys.stdin),
                         "env": {k: v for k, v in os.environ.items() if k.startswith("MEDTUI_")}}) + "\\n")
"""


def test_a_bad_template_calls_the_hook_exactly_once_with_no_tui_open(demo_ws, tmp_path):
    calls = tmp_path / "calls.jsonl"
    (tmp_path / "hook.py").write_text(HOOK)
    notify.save({"hook": [sys.executable, str(tmp_path / "hook.py"), str(calls)]}, ws_root=demo_ws.root)
    listeners = notify.listeners_dir()
    assert not listeners.is_dir() or not list(listeners.glob("*.sock"))  # no TUI open
    run = start(demo_ws, template="qwen25_typo")
    record = finished(run)
    time.sleep(1.0)  # a second call, if there were one, would have landed by now
    assert record["diagnosis"]["cause"] == "template" and "qwen25_typo" in record["diagnosis"]["reason"]
    got = [json.loads(ln) for ln in calls.read_text().splitlines()]
    assert len(got) == 1, got
    payload, env = got[0]["stdin"], got[0]["env"]
    assert payload["event"] == "run_end" and payload["run"]["id"] == run.id and payload["run"]["status"] == "failed"
    assert payload["diagnosis"] == record["diagnosis"] and payload["run"]["exit_code"] == record["exit_code"]
    assert env["MEDTUI_RUN_ID"] == run.id and env["MEDTUI_RUN_STATUS"] == "failed"
    assert env["MEDTUI_DIAGNOSIS"] == "template"
    assert record["notified"]["hook"]["returncode"] == 0 and record["notified"]["listeners"] == 0
    assert_shown_everywhere(demo_ws, record, "template")


def test_a_version_pin(demo_ws, tmp_path):
    """An installed peft older than llamafactory's pin (a dist-info of peft 0.17.0 first on the path): the
    trainer stops at import with llamafactory's own version check."""
    site = tmp_path / "old-peft"
    meta = site / "peft-0.17.0.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: peft\nVersion: 0.17.0\n")
    run = start(demo_ws, env={"PYTHONPATH": str(site)})
    record = finished(run)
    diagnosis = record["diagnosis"]
    assert diagnosis["cause"] == "version_pin" and "peft" in diagnosis["reason"], diagnosis
    assert "DISABLE_VERSION_CHECK=1" in diagnosis["fix"]


def test_a_data_file_the_trainer_cannot_read(demo_ws):
    data = demo_ws.data_dir / "demo_sft_train_data.json"
    data.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())
    run = start(demo_ws)
    record = finished(run)
    assert record["diagnosis"]["cause"] == "dataset_unreadable", record["diagnosis"]
    assert "fix-bom" in record["diagnosis"]["fix"]
