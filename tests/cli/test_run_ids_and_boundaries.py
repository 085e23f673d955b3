"""Run ids (empty refused, ambiguous lists candidates, latest and latest:STAGE) and workspace
boundaries (one output folder, one writer, whichever workspace; symlinked model folders listed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reliability import assert_clear, cli, digest  # noqa: E402

from medtui.core.runs import runner  # noqa: E402
from medtui.core.workspace import Workspace  # noqa: E402

IDS = [("20261128-100000-pt-1a2b", "pt", "train", 1.80e9), ("20261128-110000-sft-3c4d", "sft", "train", 1.81e9),
       ("20261128-120000-sft-5e6f", "sft", "train", 1.82e9), ("20261128-130000-sft-7a8b", "sft", "predict", 1.83e9),
       ("20261128-140000-export-9c0d", "export", "export", 1.84e9)]


def fake_run(ws: Path, run_id: str, stage: str, kind: str, started: float, **extra) -> Path:
    folder = ws / ".medtui" / "runs" / run_id
    folder.mkdir(parents=True)
    record = {"id": run_id, "stage": stage, "kind": kind, "status": "succeeded", "started": started,
              "ended": started + 10, "exit_code": 0, "output_dir": str(ws / "saves" / run_id), **extra}
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "stdout.log").write_text(f"log of {run_id}\n")
    return folder


@pytest.fixture
def runs_ws(tmp_path) -> Path:
    ws = tmp_path / "ws"
    for run_id, stage, kind, started in IDS:
        fake_run(ws, run_id, stage, kind, started)
    return ws


@pytest.mark.parametrize("ref", ["", "   ", "\t"])
def test_an_empty_run_id_is_refused(runs_ws, ref):
    for command in ("logs", "stop"):
        result = cli(command, ref, "-w", str(runs_ws))
        assert_clear(result, 2, r"empty run id")


def test_stop_with_an_empty_id_leaves_the_only_running_run_alone(tmp_path):
    """The case from the issue: ``medtui stop "$RUN"`` with RUN unset must not stop anything."""
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        ws = tmp_path / "ws"
        folder = fake_run(ws, "20261128-100000-sft-1111", "sft", "train", time.time(), status="running",
                          pid=sleeper.pid, pid_create_time=psutil.Process(sleeper.pid).create_time(), ended=None)
        before = digest(ws)
        result = cli("stop", "", "-w", str(ws))
        assert_clear(result, 2, r"empty run id")
        assert sleeper.poll() is None
        assert digest(ws) == before and not (folder / "stop_requested").exists()
        assert "running" in cli("runs", "-w", str(ws)).out
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("ref, expected", [
    ("sft", ["20261128-130000-sft-7a8b", "20261128-120000-sft-5e6f", "20261128-110000-sft-3c4d"]),
    ("20261128", [i[0] for i in IDS]),
    ("20261128-1", [i[0] for i in IDS]),
])
def test_an_ambiguous_id_lists_the_candidates_and_exits_2(runs_ws, ref, expected):
    result = cli("logs", ref, "-w", str(runs_ws))
    assert_clear(result, 2, rf"ambiguous run id '{ref}': it matches {len(expected)} runs")
    for run_id in expected:
        assert run_id in result.err
    if ref == "sft":
        assert "latest:sft" in result.err


@pytest.mark.parametrize("ref, run_id", [
    ("latest", "20261128-140000-export-9c0d"),
    ("latest:sft", "20261128-130000-sft-7a8b"),
    ("latest:pt", "20261128-100000-pt-1a2b"),
    ("latest:predict", "20261128-130000-sft-7a8b"),
    ("latest:train", "20261128-120000-sft-5e6f"),
    ("latest:export", "20261128-140000-export-9c0d"),
    ("20261128-110000-sft-3c4d", "20261128-110000-sft-3c4d"),
    ("20261128-11", "20261128-110000-sft-3c4d"),
    ("5e6f", "20261128-120000-sft-5e6f"),
    ("pt", "20261128-100000-pt-1a2b"),
])
def test_ids_that_name_one_run(runs_ws, ref, run_id):
    result = cli("logs", ref, "-w", str(runs_ws))
    assert_clear(result, 0, rf"log of {run_id}")


@pytest.mark.parametrize("ref, message", [
    ("latest:rm", r"no rm run yet"),
    ("latest:", r"no \? run yet"),
    ("nope", r"no run matches 'nope'"),
    ("20261129", r"no run matches"),
])
def test_ids_that_name_no_run(runs_ws, ref, message):
    assert_clear(cli("logs", ref, "-w", str(runs_ws)), 2, message)


def test_latest_in_an_empty_workspace(tmp_path):
    (tmp_path / "ws").mkdir()
    assert_clear(cli("logs", "latest", "-w", str(tmp_path / "ws")), 2, r"no runs in .* yet")


# -- the output folder belongs to one run, whichever workspace starts it ---------------------------------------
SFT = ("stage: sft\nmodel_name_or_path: models/workflow-demo-tiny-qwen2\ndataset: demo_sft_train_data\n"
       "template: qwen\nfinetuning_type: lora\nnum_train_epochs: 1\n")


@pytest.fixture
def two_workspaces(demo_template, tmp_path):
    from conftest import copy_ws

    a, b = copy_ws(demo_template, tmp_path / "a"), copy_ws(demo_template, tmp_path / "b")
    for ws in (a, b):
        (ws.root / "t.yaml").write_text(SFT)
    return a, b


@pytest.mark.parametrize("via", ["same path", "symlink", "dot-dot"])
def test_two_workspaces_cannot_write_one_output_folder(two_workspaces, tmp_path, via):
    a, b = two_workspaces
    shared = tmp_path / "shared-out"
    shared.mkdir()
    fd = runner.acquire_output_lock(a, shared, "20261128-100000-sft-held")  # a run of workspace a holds it
    try:
        assert runner.output_locked(None, shared)
        if via == "symlink":
            (tmp_path / "link").symlink_to(shared)
            target = tmp_path / "link"
        elif via == "dot-dot":
            target = tmp_path / "a" / ".." / "shared-out"
        else:
            target = shared
        before = digest(b.root)
        result = cli("train", str(b.root / "t.yaml"), "--set", f"output_dir={target}", "--detach", "-w", str(b.root))
        assert_clear(result, 2, r"another run \(20261128-100000-sft-held in .*/a\) is already writing to")
        assert digest(b.root) == before
    finally:
        os.close(fd)
    assert not runner.output_locked(None, shared)


def test_the_lock_is_machine_wide_and_keyed_by_the_real_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTUI_LOCK_DIR", str(tmp_path / "locks"))
    ws_a, ws_b = Workspace.open(tmp_path), Workspace.open(tmp_path / "elsewhere")
    out = tmp_path / "out"
    fd = runner.acquire_output_lock(ws_a, out, "r1")
    try:
        with pytest.raises(Exception, match="already writing"):
            runner.acquire_output_lock(ws_b, tmp_path / "x" / ".." / "out", "r2")
        other = runner.acquire_output_lock(ws_b, tmp_path / "out2", "r3")  # another folder is free
        os.close(other)
        assert len(list((tmp_path / "locks").glob("*.lock"))) == 2
        assert not (tmp_path / ".medtui").exists()  # nothing inside the workspace
    finally:
        os.close(fd)


def test_model_list_shows_symlinked_model_folders(tmp_path):
    ws = tmp_path / "ws"
    (ws / "models").mkdir(parents=True)
    (ws / "saves").mkdir()
    store = tmp_path / "other-disk"
    for rel in ("qwen", "family/llama", "family/llama/checkpoint-5"):
        (store / rel).mkdir(parents=True)
        (store / rel / "config.json").write_text("{}")
    (store / "adapter").mkdir()
    (store / "adapter" / "adapter_config.json").write_text("{}")
    (ws / "models" / "qwen").symlink_to(store / "qwen")
    (ws / "models" / "family").symlink_to(store / "family")
    (ws / "saves" / "lora").symlink_to(store / "adapter")
    (ws / "models" / "loop").symlink_to(ws / "models")  # a link back up must not loop
    (ws / "models" / "dangling").symlink_to(tmp_path / "gone")
    result = cli("model", "list", "-w", str(ws))
    assert_clear(result, 0, r"^models/qwen$")
    lines = result.out.split()
    assert lines == ["models/family/llama", "models/qwen", "saves/lora"]
