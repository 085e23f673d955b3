"""Honest run states, recorded by the real supervisor around small stand-in trainers (``python -c``):
succeeded; failed with the exit code and the error line (never a progress bar) or the signal name;
stopped with what was saved, or nothing saved yet; killed; supervisor vanished; a full disk at the
end; ``kind`` recorded and used by the CLI. Real llamafactory stops are in tests/e2e/test_runner_e2e.py."""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reliability import assert_clear, cli  # noqa: E402

from medtui.core.runs import runner, supervisor  # noqa: E402
from medtui.core.runs.plan import RunPlan  # noqa: E402
from medtui.core.runs.records import load_run  # noqa: E402
from medtui.core.workspace import Workspace  # noqa: E402

TQDM = " 45%|████▌     | 9/20 [00:03<00:04,  2.61it/s]"


def start(tmp_path: Path, script: str, *args: str, name: str = "r", kind: str = "train",
          config: dict | None = None) -> object:
    ws = Workspace.open(tmp_path / "ws")
    run_dir = ws.runs_dir / f"20261128-100000-sft-{name}"
    out = tmp_path / f"out-{name}"
    plan = RunPlan(run_id=run_dir.name, stage="sft", run_dir=run_dir, yaml_config=config or {},
                   argv=[sys.executable, "-c", script, str(out), *args], env={}, cwd=ws.root, output_dir=out)
    return runner.start(plan, ws, kind=kind)


def wait_final(run, timeout: float = 60.0):
    return runner.wait(run, poll=0.05, timeout=timeout)


def wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_succeeded(tmp_path):
    final = wait_final(start(tmp_path, "print('done')"))
    assert final.status == "succeeded" and final.exit_code == 0 and final.reason() == ""
    assert final.record["kind"] == "train"
    try:
        psutil.Process(final.record["pid"]).wait(10)
    except psutil.NoSuchProcess:
        pass
    assert not (final.run_dir / supervisor.RESERVE).exists()  # the reserve goes once the end is written


FAIL = f"""
import sys
sys.stderr.write("Traceback (most recent call last):\\n  File 'x'\\nValueError: the dataset has no column 'output'\\n")
sys.stderr.write({TQDM!r} + "\\r" + {TQDM!r} + "\\n")
sys.exit(3)
"""


def test_failed_names_the_exit_code_and_the_error_not_the_progress_bar(tmp_path):
    final = wait_final(start(tmp_path, FAIL))
    assert final.status == "failed" and final.exit_code == 3
    assert final.reason() == "exit code 3: ValueError: the dataset has no column 'output'"
    result = cli("runs", "-w", str(tmp_path / "ws"))
    assert_clear(result, 0, r"└ exit code 3: ValueError: the dataset has no column")
    assert "it/s" not in result.out


def test_failed_with_only_a_progress_bar_says_the_exit_code(tmp_path):
    script = f"import sys; sys.stderr.write({TQDM!r} + '\\n'); sys.exit(1)"
    final = wait_final(start(tmp_path, script))
    assert final.reason() == "exit code 1"


@pytest.mark.parametrize("sig, hint", [(signal.SIGKILL, "out-of-memory killer"), (signal.SIGSEGV, "native code"),
                                       (signal.SIGBUS, "memory")])
def test_a_trainer_killed_by_a_signal_is_failed_with_the_signal_name(tmp_path, sig, hint):
    script = f"import os, sys; sys.stderr.write({TQDM!r}); sys.stderr.flush(); os.kill(os.getpid(), {int(sig)})"
    final = wait_final(start(tmp_path, script, name=sig.name))
    assert final.status == "failed"
    assert final.record["signal"] == sig.name and final.exit_code is None
    assert final.reason().startswith(f"killed by {sig.name} (") and hint in final.reason()


def test_a_shell_style_exit_code_names_its_signal(tmp_path):
    final = wait_final(start(tmp_path, "import sys; sys.exit(137)"))
    assert final.reason() == "exit code 137 (128+SIGKILL)"


# A stand-in trainer that behaves like llamafactory's LogCallback: SIGABRT asks it to save and stop.
GRACEFUL = """
import os, pathlib, signal, sys, time, json
out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
flag = []
signal.signal(signal.SIGABRT, lambda *_: flag.append(1))
if sys.argv[2] == "checkpoint":
    (out / "checkpoint-5").mkdir(); (out / "checkpoint-5" / "adapter_model.safetensors").write_text("w")
(out / "ready").write_text("")
while not flag:
    time.sleep(0.05)
if sys.argv[2] != "nothing":
    (out / "adapter_model.safetensors").write_text("w")
    (out / "trainer_state.json").write_text(json.dumps({"global_step": 7}))
"""


@pytest.mark.parametrize("what, saved", [
    ("checkpoint", "saved the model at step 7 in {out} and checkpoint-5"),
    ("final", "saved the model at step 7 in {out}"),
    ("nothing", "nothing saved yet"),
])
def test_a_graceful_stop_is_stopped_with_what_was_saved(tmp_path, what, saved):
    run = start(tmp_path, GRACEFUL, what, name=what)
    wait_for(tmp_path / f"out-{what}" / "ready")
    result = cli("stop", run.id, "-w", str(tmp_path / "ws"), "--timeout", "20")
    final = load_run(run.run_dir)
    assert final.status == "stopped" and final.exit_code == 0
    assert final.reason() == saved.format(out=tmp_path / f"out-{what}")
    assert_clear(result, 0, rf"{run.id}: stopped \(" + ("nothing saved yet" if what == "nothing" else "saved the model"))


STUBBORN = """
import pathlib, signal, sys, time
signal.signal(signal.SIGABRT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
(pathlib.Path(sys.argv[1]) / "ready").write_text("")
time.sleep(600)
"""


def test_a_graceful_stop_that_must_escalate_is_killed(tmp_path):
    run = start(tmp_path, STUBBORN)
    wait_for(tmp_path / "out-r" / "ready")
    final = runner.stop(load_run(run.run_dir), grace=1, term_grace=1)
    assert final.status == "killed" and final.record["signal"] == "SIGKILL"
    assert "did not stop gracefully in time" in final.reason()


def test_a_hard_stop_is_killed_and_the_supervisor_records_it(tmp_path):
    run = start(tmp_path, STUBBORN)
    wait_for(tmp_path / "out-r" / "ready")
    result = cli("stop", run.id, "--kill", "-w", str(tmp_path / "ws"))
    assert_clear(result, 0, rf"{run.id}: killed \(killed on request")
    final = load_run(run.run_dir)
    assert final.status == "killed" and final.record["ended"] and final.record["signal"] == "SIGKILL"


def test_a_vanished_supervisor_reads_as_failed(tmp_path):
    run = start(tmp_path, "import sys; sys.stderr.write('RuntimeError: CUDA error\\n'); import time; time.sleep(600)")
    time.sleep(0.5)
    os.killpg(run.record["pid"], signal.SIGKILL)  # supervisor and trainer, as a reboot or the OOM killer would
    deadline = time.monotonic() + 20
    while load_run(run.run_dir).status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    fresh = load_run(run.run_dir)
    assert fresh.status == "failed" and fresh.vanished
    assert fresh.reason() == "supervisor vanished; last error: RuntimeError: CUDA error"
    assert json.loads((run.run_dir / "run.json").read_text())["status"] == "running"  # readers never write


def test_a_trainer_outliving_its_supervisor_is_still_running(tmp_path):
    run = start(tmp_path, "import time; time.sleep(600)")
    time.sleep(0.3)
    child = load_run(run.run_dir).record["child_pid"]
    os.kill(run.record["pid"], signal.SIGKILL)
    try:
        assert load_run(run.run_dir).status == "running"
    finally:
        os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while load_run(run.run_dir).status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert load_run(run.run_dir).reason().startswith("supervisor vanished")


def test_a_full_disk_at_the_end_still_records_the_end(tmp_path, monkeypatch):
    """The trainer filled the disk: the first final write fails with ENOSPC; the reserve is freed and the
    end is recorded, so the run does not stay "running"."""
    ws = Workspace.open(tmp_path / "ws")
    run_dir = ws.runs_dir / "20261128-100000-sft-full"
    run_dir.mkdir(parents=True)
    script = "import sys; sys.stderr.write('OSError: [Errno 28] No space left on device\\n'); sys.exit(1)"
    (run_dir / "run.json").write_text(json.dumps({
        "id": run_dir.name, "stage": "sft", "kind": "train", "status": "running", "started": time.time(),
        "argv": [sys.executable, "-c", script], "output_dir": str(tmp_path / "out"), "cwd": str(tmp_path)}))
    real = supervisor.write_record
    calls = []

    def full_once(folder, record):
        calls.append(record.get("status"))
        if record.get("status") == "failed" and calls.count("failed") == 1:
            assert (folder / supervisor.RESERVE).exists()
            raise OSError(errno.ENOSPC, "No space left on device")
        real(folder, record)

    monkeypatch.setattr(supervisor, "write_record", full_once)
    assert supervisor.main([str(run_dir)]) == 1
    final = load_run(run_dir)
    assert final.status == "failed" and not final.vanished
    assert final.reason() == "exit code 1: OSError: [Errno 28] No space left on device"
    assert not (run_dir / supervisor.RESERVE).exists()
    assert calls.count("failed") == 2


def test_a_full_disk_at_the_start_stops_the_trainer_and_records_why(tmp_path, monkeypatch):
    """run.json cannot take the trainer's pid: the trainer (and what it started) is killed rather than left
    running where nobody could follow or stop it, and the failure is recorded from the reserve."""
    import psutil

    ws = Workspace.open(tmp_path / "ws")
    run_dir = ws.runs_dir / "20261128-100000-sft-start"
    run_dir.mkdir(parents=True)
    script = "import subprocess, sys, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    (run_dir / "run.json").write_text(json.dumps({
        "id": run_dir.name, "stage": "sft", "kind": "train", "status": "running", "started": time.time(),
        "argv": [sys.executable, "-c", script], "output_dir": str(tmp_path / "out"), "cwd": str(tmp_path)}))
    real = supervisor.write_record
    started: list[int] = []

    def full_at_start(folder, record):
        if record.get("status") == "running" and record.get("child_pid"):
            time.sleep(1.0)  # let the trainer start its own child
            started.extend([record["child_pid"], *(c.pid for c in psutil.Process(record["child_pid"]).children())])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(folder, record)

    monkeypatch.setattr(supervisor, "write_record", full_at_start)
    assert supervisor.main([str(run_dir)]) == 1
    final = load_run(run_dir)
    assert final.status == "failed" and "could not record the run's start" in final.reason()
    assert len(started) == 2 and not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                                         for pid in started)


@pytest.mark.parametrize("kind", ["train", "predict", "export"])
def test_kind_is_recorded_and_shown(tmp_path, kind):
    final = wait_final(start(tmp_path, "pass", kind=kind, name=kind))
    assert final.record["kind"] == kind and final.kind == kind
    result = cli("runs", "--json", "-w", str(tmp_path / "ws"))
    assert json.loads(result.out)[0]["kind"] == kind
    assert_clear(cli("logs", f"latest:{kind}", "-w", str(tmp_path / "ws")), 0, "")


def test_kind_of_an_old_record_is_derived(tmp_path):
    from medtui.core.runs.records import Run

    old = {"id": "x", "stage": "sft", "config": {"do_train": False, "do_predict": True}}
    assert Run(tmp_path, old).kind == "predict"
    assert Run(tmp_path, {"id": "x", "stage": "export"}).kind == "export"
    assert Run(tmp_path, {"id": "x", "stage": "dpo"}).kind == "train"


def test_a_process_listing_never_reaps_or_signals_the_supervisor_during_a_kill(tmp_path):
    run = start(tmp_path, STUBBORN)
    wait_for(tmp_path / "out-r" / "ready")
    sup = run.record["pid"]
    runner.stop(load_run(run.run_dir), kill=True)
    # the supervisor wrote the end itself and exits on its own
    assert load_run(run.run_dir).record["status"] == "killed"
    assert load_run(run.run_dir).record["error"].startswith("killed on request")
    try:
        psutil.Process(sup).wait(10)
    except psutil.NoSuchProcess:
        pass
