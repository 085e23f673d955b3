"""A full disk and a read-only workspace, for real: the workspace sits on a full tmpfs, or is
bind-mounted read-only, inside a private user+mount namespace (``unshare -rm``). Every command
gives one clear line and exit 2, and no file of the workspace changes. Also Ctrl-C in the middle
of commands."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reliability import ROOT, Result, assert_clear, cli, digest, in_sandbox, sandbox_available  # noqa: E402

from tests.conftest import terminal_sigint  # noqa: E402

needs_sandbox = pytest.mark.skipif(not sandbox_available(), reason="unshare -rm with tmpfs mounts is not allowed here")

SFT = ("stage: sft\nmodel_name_or_path: models/workflow-demo-tiny-qwen2\ndataset: demo_sft_train_data\n"
       "template: qwen\nfinetuning_type: lora\nnum_train_epochs: 1\noutput_dir: saves/sft\n")


@pytest.fixture
def ws(demo_template, tmp_path) -> Path:
    from conftest import copy_ws

    root = copy_ws(demo_template, tmp_path / "ws").root
    (root / "t.yaml").write_text(SFT)
    return root


def _check(outcome: dict, expected: list[tuple[int, str]]) -> None:
    assert outcome["before"] == outcome["after"], "a file of the workspace changed"
    for res, (code, message) in zip(outcome["results"], expected, strict=True):
        assert_clear(Result(res["code"], res["out"], res["err"]), code, message)


@needs_sandbox
def test_a_full_disk(ws, tmp_path):
    commands = [
        ["data", "add", "x", "--file", "demo_sft_train_data.json", "-w", "{ws}"],
        ["data", "remove", "demo_sft_train_data", "-w", "{ws}"],
        ["train", "{ws}/t.yaml", "--detach", "-w", "{ws}"],
        ["train", "{ws}/t.yaml", "--set", f"output_dir={tmp_path}/out-elsewhere", "--detach", "-w", "{ws}"],
        ["demo", "init", "{ws}/new-demo"],
        ["data", "list", "-w", "{ws}"],
        ["runs", "-w", "{ws}"],
    ]
    outcome = in_sandbox("full", ws, commands, size="2m")
    _check(outcome, [
        (2, r"cannot write .*dataset_info.json: No space left on device \(nothing was changed\)"),
        (2, r"cannot write .*dataset_info.json: No space left on device \(nothing was changed\)"),
        (2, r"(save_steps: about .* needed for .* checkpoint|No space left on device)"),
        (2, r"cannot start the run: .*No space left on device \(nothing was started\)"),
        (2, r"cannot create the demo workspace: .*No space left on device \(nothing was left behind\)"),
        (0, r"demo_sft_train_data"),
        (0, r"no runs in"),
    ])


@needs_sandbox
def test_a_read_only_workspace(ws, tmp_path):
    commands = [
        ["data", "add", "x", "--file", "demo_sft_train_data.json", "-w", "{ws}"],
        ["data", "remove", "demo_sft_train_data", "-w", "{ws}"],
        ["train", "{ws}/t.yaml", "--detach", "-w", "{ws}"],
        ["train", "{ws}/t.yaml", "--set", f"output_dir={tmp_path}/out-elsewhere", "--detach", "-w", "{ws}"],
        ["demo", "init", "{ws}/new-demo"],
        ["data", "list", "-w", "{ws}"],
        ["data", "stats", "demo_sft_train_data", "-w", "{ws}"],
        ["runs", "-w", "{ws}"],
    ]
    outcome = in_sandbox("ro", ws, commands)
    _check(outcome, [
        (2, r"cannot write .*dataset_info.json: Read-only file system \(nothing was changed\)"),
        (2, r"cannot write .*dataset_info.json: Read-only file system \(nothing was changed\)"),
        (2, r"output_dir: .*saves/sft cannot be written: .* is read-only"),
        (2, r"cannot start the run: .*Read-only file system \(nothing was started\)"),
        (2, r"cannot create the demo workspace: .*Read-only file system"),
        (0, r"demo_sft_train_data .* 19 "),
        (0, r"records: 19"),
        (0, r"no runs in"),
    ])


@needs_sandbox
def test_a_registry_whose_lock_file_exists_on_a_read_only_disk(ws):
    cli("data", "add", "first", "--file", "demo_sft_train_data.json", "-w", str(ws))  # creates the lock file
    assert (ws / "data" / ".dataset_info.json.lock").exists()
    outcome = in_sandbox("ro", ws, [["data", "add", "x", "--file", "demo_sft_train_data.json", "-w", "{ws}"]])
    _check(outcome, [(2, r"Read-only file system \(nothing was changed\)")])


# -- Ctrl-C in the middle of commands -------------------------------------------------------------------------
def test_ctrl_c_while_the_registry_is_written(ws, monkeypatch):
    before = digest(ws)

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    result = cli("data", "add", "x", "--file", "demo_sft_train_data.json", "-w", str(ws))
    monkeypatch.undo()
    assert_clear(result, 130, r"^medtui: interrupted$")
    after = digest(ws)
    after.pop("data/.dataset_info.json.lock", None)  # taken before the write began; empty
    assert after == before
    assert not list((ws / "data").glob(".*.tmp"))


def test_ctrl_c_while_a_run_folder_is_written(ws, monkeypatch):
    from medtui.core.runs import recordfile

    before = digest(ws)

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(recordfile, "atomic_write_text", interrupted)
    result = cli("train", str(ws / "t.yaml"), "--detach", "-w", str(ws))
    monkeypatch.undo()
    assert_clear(result, 130, r"interrupted")
    after = digest(ws)
    for layout in (".medtui", ".medtui/runs"):
        after.pop(layout, None)
    assert after == before  # no half-made run folder


def _medtui(*args: str) -> subprocess.Popen:
    """medtui as started from a terminal: SIGINT at its default even when these tests run as a background
    job (which inherits SIGINT ignored, so Python would never raise KeyboardInterrupt)."""
    return subprocess.Popen([sys.executable, "-m", "medtui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            preexec_fn=terminal_sigint)


def test_ctrl_c_while_following_logs(tmp_path):
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        import psutil

        folder = tmp_path / "ws" / ".medtui" / "runs" / "20261128-100000-sft-1111"
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({
            "id": folder.name, "stage": "sft", "status": "running", "started": time.time(), "pid": sleeper.pid,
            "pid_create_time": psutil.Process(sleeper.pid).create_time(), "output_dir": str(tmp_path / "out")}))
        (folder / "stdout.log").write_text("step 1\n")
        proc = _medtui("logs", "latest", "-f", "-w", str(tmp_path / "ws"))
        # Interrupt once it is following (it has printed the log so far), not after a fixed delay:
        # on a loaded machine the interpreter may still be importing after two seconds.
        seen = []
        deadline = time.monotonic() + 120
        while "step 1" not in "".join(seen):
            assert time.monotonic() < deadline and proc.poll() is None, (seen, proc.poll())
            if select.select([proc.stdout], [], [], 0.5)[0]:
                seen.append(proc.stdout.readline())
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in err, err
        assert sleeper.poll() is None  # the run is untouched
    finally:
        sleeper.kill()
        sleeper.wait()


def _open_files(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).open_files()
    except psutil.Error:
        return []


def test_ctrl_c_in_the_middle_of_a_long_command(ws):
    """SIGINT while ``data stats`` scans a big file: exit 130 with one line, never a traceback."""
    rows = [{"instruction": f"question {i} " * 8, "input": "", "output": f"answer {i} " * 8} for i in range(150000)]
    (ws / "data" / "big.json").write_text(json.dumps(rows))
    cli("data", "add", "big", "--file", "big.json", "-w", str(ws))
    before = digest(ws)

    for delay in (0.0, 1.0):
        proc = _medtui("data", "stats", "big", "-w", str(ws))
        # Interrupt while it reads the file (not after a fixed delay: on a loaded machine the
        # interpreter may still be importing), then a little later on the second round.
        deadline = time.monotonic() + 120
        while not any(f.path.endswith("big.json") for f in _open_files(proc.pid)):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 130), err
        if proc.returncode == 130:
            assert err.strip().splitlines()[-1] == "medtui: interrupted"
    assert digest(ws) == before
