"""Resume without training: checkpoint listing, refusals with reasons, the resumed config, one history."""

from __future__ import annotations

import json
import time

import pytest

from medtui.core.runs.progress import Progress
from medtui.core.runs.records import Run, write_record
from medtui.core.runs.resume import (
    ResumeRefused,
    history_before,
    list_checkpoints,
    pick_checkpoint,
    resume_config,
    resume_refusal,
)


def _checkpoint(out, step, max_steps=40, loss=1.5):
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    state = {"global_step": step, "max_steps": max_steps,
             "log_history": [{"step": s, "loss": loss + s / 100} for s in range(1, step + 1)]}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    return folder


def _run(tmp_path, stage="sft", status="stopped", **config):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    run_dir = tmp_path / "runs" / f"r-{stage}"
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"id": f"r-{stage}", "stage": stage, "kind": "train", "status": status, "output_dir": str(out),
              "started": time.time() - 60, "ended": time.time(), "env": {"CUDA_VISIBLE_DEVICES": "0,1"},
              "launch": {"deepspeed_stage": 2},
              "config": {"stage": stage, "finetuning_type": "lora", "output_dir": str(out), "save_steps": 10,
                         "overwrite_output_dir": True, **config}}
    write_record(run_dir, record)
    return Run(run_dir, record)


def test_checkpoints_are_listed_with_step_and_loss(tmp_path):
    run = _run(tmp_path)
    _checkpoint(run.output_dir, 20)
    _checkpoint(run.output_dir, 10)
    (run.output_dir / "checkpoint-30").mkdir()  # no trainer_state.json: not resumable, not listed
    found = list_checkpoints(run.output_dir)
    assert [c.step for c in found] == [10, 20]
    assert found[-1].loss == pytest.approx(1.7) and "step 20" in found[-1].label()
    assert pick_checkpoint(run, "latest").step == 20
    assert pick_checkpoint(run, "10").step == 10
    assert pick_checkpoint(run, str(run.output_dir / "checkpoint-10")).step == 10
    with pytest.raises(ResumeRefused, match="no checkpoint at step 5"):
        pick_checkpoint(run, "5")
    with pytest.raises(ResumeRefused, match="not a checkpoint folder"):
        pick_checkpoint(run, str(run.output_dir / "checkpoint-30"))


def test_no_checkpoint_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ResumeRefused, match="saved no checkpoint"):
        pick_checkpoint(_run(tmp_path), None)


def test_resumed_config_continues_in_the_same_folder(tmp_path):
    run = _run(tmp_path)
    _checkpoint(run.output_dir, 10)
    ckpt = pick_checkpoint(run, None)
    config = resume_config(run, ckpt, {"learning_rate": 1e-4})
    assert config["resume_from_checkpoint"] == str(ckpt.path)
    assert config["output_dir"] == str(run.output_dir)
    assert config["overwrite_output_dir"] is False  # True would delete trainer_log.jsonl
    assert config["devices"] == "0,1" and config["deepspeed_stage"] == 2  # launch settings carried over
    assert config["learning_rate"] == 1e-4


def test_ppo_and_full_rm_are_refused_with_reasons(tmp_path):
    assert "TRL's PPOTrainer" in resume_refusal(_run(tmp_path, stage="ppo"))
    assert "cannot resume a reward model" in resume_refusal(_run(tmp_path, stage="rm", finetuning_type="full"))
    assert resume_refusal(_run(tmp_path, stage="rm")) == ""
    run = _run(tmp_path, stage="rm")
    _checkpoint(run.output_dir, 10)
    config = resume_config(run, pick_checkpoint(run, None))
    assert config["adapter_name_or_path"].endswith("checkpoint-10")  # llamafactory's advice for rm + LoRA


def test_a_finished_run_needs_more_epochs_or_steps(tmp_path):
    run = _run(tmp_path, status="succeeded")
    _checkpoint(run.output_dir, 40, max_steps=40)
    ckpt = pick_checkpoint(run, None)
    with pytest.raises(ResumeRefused, match="finished at step 40 of 40.*max_steps=80"):
        resume_config(run, ckpt)
    assert resume_config(run, ckpt, {"max_steps": 60})["max_steps"] == 60


def test_history_before_keeps_the_old_run_up_to_the_checkpoint(tmp_path):
    run = _run(tmp_path)
    log = run.output_dir / "trainer_log.jsonl"
    old = [{"current_steps": s, "loss": 2.0 - s / 10} for s in range(1, 7)]
    log.write_text("".join(json.dumps(r) + "\n" for r in old))
    record = dict(run.record, resumed_from={"run": "a", "step": 4}, trainer_log_offset=log.stat().st_size)
    history, offset = history_before(record)
    assert [r["current_steps"] for r in history] == [1, 2, 3, 4] and offset == log.stat().st_size
    assert history_before(run.record) == ([], 0)


def test_progress_rewinds_when_steps_go_back():
    progress = Progress()
    progress.add([{"current_steps": s, "loss": float(s)} for s in range(1, 7)])
    progress.add([{"current_steps": s, "loss": float(s) + 0.5} for s in range(5, 9)])  # resumed from step 4
    xs, ys = progress.series["loss"]
    assert xs == list(range(1, 9)) and ys[4] == 5.5 and progress.steps == 8


def test_chained_resumes_give_one_history(tmp_path):
    run = _run(tmp_path)
    log = run.output_dir / "trainer_log.jsonl"
    first = ([{"current_steps": s, "loss": 1.0} for s in range(1, 5)] + [{"current_steps": 4, "eval_loss": 0.5}]
             + [{"current_steps": 5, "loss": 1.0}])
    second = [{"current_steps": s, "loss": 2.0} for s in range(5, 9)]  # resumed from step 4 (first stopped at 5)
    log.write_text("".join(json.dumps(r) + "\n" for r in first + second))
    record = dict(run.record, resumed_from={"run": "b", "step": 8}, trainer_log_offset=log.stat().st_size)
    history, _ = history_before(record)  # a third run resumes from step 8
    steps = [(r["current_steps"], "loss" in r) for r in history]
    assert steps == [(1, True), (2, True), (3, True), (4, True), (4, False), (5, True), (6, True), (7, True),
                     (8, True)]
    assert [r["loss"] for r in history if r["current_steps"] == 5] == [2.0]
