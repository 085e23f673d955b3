"""The words of run states: error lines (never a progress bar), signal names, what a stop saved."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from medtui.core.runs.states import (
    error_line,
    failure_reason,
    final_state,
    is_progress_line,
    request_stop,
    saved_note,
    stop_mode,
)


@pytest.mark.parametrize("line", [
    " 45%|████▌     | 9/20 [00:03<00:04,  2.61it/s]",
    "Running tokenizer on dataset: 100%|██████████| 19/19 [00:00<00:00, 1843.32 examples/s]",
    "  3%|▎         | 1/30 [00:01<00:40,  1.41s/it]",
    "Map:  50%|█████     | 10/20",
])
def test_progress_lines_are_recognised(line):
    assert is_progress_line(line)


@pytest.mark.parametrize("line", ["ValueError: bad", "RuntimeError: CUDA out of memory. Tried 20%", "exit"])
def test_messages_are_not_progress_lines(line):
    assert not is_progress_line(line)


@pytest.mark.parametrize("text, expected", [
    ("Traceback (most recent call last):\n  File \"x\"\nKeyError: 'output'\n 10%|█| 1/10 [00:01<00:09, 1it/s]\n",
     "KeyError: 'output'"),
    ("step 1\r 10%|█| 1/10 [00:01<00:09, 1it/s]\r 20%|██| 2/10 [00:02<00:08, 1it/s]", "step 1"),
    ("\r 10%|█| 1/10 [00:01<00:09, 1it/s]\r 20%|██| 2/10 [00:02<00:08, 1it/s]", ""),
    ("some warning line\n 20%|██| 2/10 [00:02<00:08, 1it/s]\n", "some warning line"),
    ("torch.OutOfMemoryError: CUDA out of memory.\n[rank0]: more\n", "torch.OutOfMemoryError: CUDA out of memory."),
    ("", ""),
])
def test_error_line_skips_progress_bars(tmp_path, text, expected):
    path = tmp_path / "stderr.log"
    path.write_text(text)
    assert error_line(path) == expected


def test_failure_reasons(tmp_path):
    err = tmp_path / "stderr.log"
    err.write_text("ValueError: nope\n")
    assert failure_reason(2, err) == "exit code 2: ValueError: nope"
    assert failure_reason(-signal.SIGKILL, err).startswith("killed by SIGKILL (the out-of-memory killer")
    assert failure_reason(-signal.SIGUSR1, err) == "killed by SIGUSR1"
    assert failure_reason(139, tmp_path / "missing") == "exit code 139 (128+SIGSEGV)"


def test_final_states(tmp_path):
    common = {"kind": "train", "output_dir": tmp_path / "out", "started": time.time(), "stderr": tmp_path / "e"}
    assert final_state(0, None, **common)["status"] == "succeeded"
    assert final_state(0, "graceful", **common) == {"exit_code": 0, "signal": None, "status": "stopped",
                                                    "saved": "nothing saved yet"}
    assert final_state(-signal.SIGABRT, "graceful", **common)["status"] == "stopped"
    assert final_state(-signal.SIGKILL, "graceful", **common)["status"] == "killed"
    assert final_state(-signal.SIGKILL, "kill", **common)["status"] == "killed"
    assert final_state(0, "kill", **common)["status"] == "killed"
    assert final_state(1, "graceful", **common)["error"].startswith("failed while stopping: exit code 1")
    assert final_state(-signal.SIGKILL, None, **common)["signal"] == "SIGKILL"
    predict = final_state(0, "graceful", **{**common, "kind": "predict"})
    assert predict["saved"].startswith("nothing saved (predictions")


def test_saved_note_counts_only_what_this_run_wrote(tmp_path):
    out = tmp_path / "out"
    (out / "checkpoint-10").mkdir(parents=True)
    old = time.time() - 3600
    os.utime(out / "checkpoint-10", (old, old))  # left by an earlier run into the same folder
    started = time.time()
    for step in (20, 30, 40, 50):
        (out / f"checkpoint-{step}").mkdir()
    assert saved_note("train", out, started) == "saved checkpoints checkpoint-30, checkpoint-40, checkpoint-50 " \
                                                "(and 1 earlier)"
    (out / "adapter_model.safetensors").write_text("w")
    (out / "trainer_state.json").write_text(json.dumps({"global_step": 55}))
    assert saved_note("train", out, started).startswith(f"saved the model at step 55 in {out} and checkpoints")
    assert saved_note("export", out, started).startswith("nothing usable saved")


def test_stop_marker_modes(tmp_path):
    assert stop_mode(tmp_path) is None
    request_stop(tmp_path, "kill")
    assert stop_mode(tmp_path) == "kill"
    (tmp_path / "stop_requested").write_text("1764000000.5")  # a marker from an older medtui
    assert stop_mode(tmp_path) == "graceful"
