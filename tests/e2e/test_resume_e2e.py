"""Stop a real demo SFT after a checkpoint, resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import json
import struct
import time

import yaml

from medtui.core.lifecycle.wiring import workspace_outputs
from medtui.core.runs import runner
from medtui.core.runs.follow import RunState, RunWatch
from medtui.core.runs.records import list_runs, load_run
from medtui.core.stages.launch import launch
from tests.conftest import medtui_cli

STEPS, SAVE = 40, 10


def sft(output_dir):
    return {"stage": "sft", "finetuning_type": "lora", "model_name_or_path": "models/workflow-demo-tiny-qwen2",
            "dataset": "demo_sft_train_data", "template": "default", "output_dir": output_dir, "cutoff_len": 64,
            "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "max_steps": STEPS,
            "logging_steps": 1, "save_steps": SAVE, "preprocessing_num_workers": 1, "overwrite_output_dir": True}


def _adapter_layout(folder):
    """Tensor names and shapes from the safetensors header (no torch)."""
    raw = (folder / "adapter_model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def _final_step(folder):
    return json.loads((folder / "trainer_state.json").read_text())["global_step"]


def test_stop_after_a_checkpoint_then_resume_matches_an_uninterrupted_run(demo_ws, tmp_path):
    whole = runner.wait(launch(sft("saves/whole"), demo_ws))
    assert whole.status == "succeeded", whole.reason()

    first = launch(sft("saves/resumed"), demo_ws)
    deadline = time.monotonic() + 300
    while not (first.output_dir / f"checkpoint-{SAVE}" / "trainer_state.json").exists():
        assert load_run(first.run_dir).is_running, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stopped = runner.stop(load_run(first.run_dir), grace=120)
    assert stopped.status == "stopped"
    stopped_at = _final_step(stopped.output_dir)
    assert SAVE <= stopped_at < STEPS, "the stop came too late to test a resume"

    listed = medtui_cli("resume", first.id, "--list", "-w", str(demo_ws.root))
    assert f"checkpoint-{SAVE}" in listed.stdout and "LOSS" in listed.stdout
    proc = medtui_cli("resume", first.id, "-w", str(demo_ws.root))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    resumed = [r for r in list_runs(demo_ws.runs_dir) if r.record.get("resumed_from")]
    assert len(resumed) == 1
    second = resumed[0]
    assert second.status == "succeeded" and second.record["resumed_from"]["run"] == first.id
    assert second.id != first.id and second.output_dir == first.output_dir

    # the final step count and the saved adapter match the uninterrupted run
    assert _final_step(second.output_dir) == _final_step(whole.output_dir) == STEPS
    assert _adapter_layout(second.output_dir) == _adapter_layout(whole.output_dir)
    # one continuous trainer_log history: every step once, 1..STEPS
    state = RunState(second.id)
    state.apply(RunWatch(second.run_dir, follow_logs=False).poll())
    xs, _ = state.progress.series["loss"]
    assert xs == list(range(1, STEPS + 1))
    assert state.progress.steps == STEPS
    # the lifecycle takes the resumed run as the stage's output
    assert workspace_outputs(demo_ws.runs_dir)["sft"].output_dir == str(second.output_dir)  # not saves/whole

    # a PPO run is refused with the reason, through the CLI
    ppo_dir = demo_ws.runs_dir / "ppo-run"
    ppo_dir.mkdir(parents=True)
    (ppo_dir / "run.json").write_text(json.dumps({"id": "ppo-run", "stage": "ppo", "kind": "train", "status": "failed",
                                                  "output_dir": str(tmp_path), "started": time.time(),
                                                  "config": yaml.safe_load("a: 1")}))
    refused = medtui_cli("resume", "ppo-run", "-w", str(demo_ws.root))
    assert refused.returncode == 2 and "TRL's PPOTrainer" in refused.stderr
