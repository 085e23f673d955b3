"""The PPO stage: medtui's engine on TRL's PPOTrainer, its wiring in the core, and real runs on the demo.

``trained_ws`` ran the demo pipeline, which includes RM (lora) -> PPO (lora) -> export-ppo. The
heavy checks (chat, logits, reward model) run in one subprocess, ``tests/ppo_probe.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, copy_ws, medtui_cli

from medtui.core.runs.follow import RunReader
from medtui.core.runs.records import list_runs, load_run
from medtui.core.stages.launch import prepare
from medtui.core.stages.preflight import errors

DEMO = Path("saves") / "workflow-demo"
MODULE = "medtui.engines.ppo_train"
RECORD_KEYS = {"current_steps", "total_steps", "loss", "reward", "kl", "value_loss", "lr", "epoch", "percentage",
               "elapsed_time", "remaining_time"}


def ppo_config(ws_root: Path, **over) -> dict:
    cfg = {
        "stage": "ppo", "finetuning_type": "lora", "template": "default",
        "model_name_or_path": str(ws_root / DEMO / "full" / "sft"),
        "reward_model": str(ws_root / DEMO / "lora" / "rm"), "reward_model_type": "lora",
        "dataset": "demo_sft_train_data", "output_dir": "saves/test/ppo", "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1, "cutoff_len": 64, "preprocessing_num_workers": 1, "report_to": "none",
        "logging_steps": 1, "save_steps": 1000, "lora_rank": 4,
    }
    cfg.update(over)
    return cfg


def write_yaml(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


# -- engine choice and command ---------------------------------------------------------------------

# -- pre-flight --------------------------------------------------------------------------------------

def _refused(proc: subprocess.CompletedProcess, words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_cli_refuses_a_missing_reward_model(trained_ws, tmp_path):
    cfg = ppo_config(trained_ws.root, reward_model=str(trained_ws.root / DEMO / "lora" / "no-such-rm"),
                     output_dir=str(tmp_path / "out"))
    proc = medtui_cli("train", str(write_yaml(tmp_path / "ppo.yaml", cfg)), "--workspace", str(trained_ws.root))
    _refused(proc, "reward model not found")
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_reward_model_built_on_another_base(trained_ws, tmp_path):
    # the demo RM was trained on the SFT model; pt's output has the same shape but other weights
    cfg = ppo_config(trained_ws.root, model_name_or_path=str(trained_ws.root / DEMO / "full" / "pt"),
                     output_dir=str(tmp_path / "out"))
    proc = medtui_cli("train", str(write_yaml(tmp_path / "ppo.yaml", cfg)), "--workspace", str(trained_ws.root))
    _refused(proc, "was trained on")
    assert not (tmp_path / "out").exists()


def test_preflight_checks_the_reward_model_and_batch(trained_ws, tmp_path):
    root = trained_ws.root
    _, problems = prepare(ppo_config(root, output_dir=str(tmp_path / "ok")), trained_ws)
    assert not errors(problems), problems
    head = (root / DEMO / "lora" / "rm" / "value_head.safetensors").read_bytes()
    no_adapter, other_full = tmp_path / "no-adapter", tmp_path / "other-full"
    for folder in (no_adapter, other_full):
        folder.mkdir()
        (folder / "value_head.safetensors").write_bytes(head)
    sft_config = json.loads((root / DEMO / "full" / "sft" / "config.json").read_text())
    (other_full / "config.json").write_text(json.dumps({**sft_config, "vocab_size": 99}))
    cases = {
        "value_head.safetensors": dict(reward_model=str(root / DEMO / "lora" / "dpo")),  # an adapter, not an RM
        "adapter_config.json": dict(reward_model=str(no_adapter)),
        "same base model": dict(reward_model=str(other_full), reward_model_type="full"),
        ">= 8": dict(ppo_whiten_rewards=True),
        "fewer than one PPO batch": dict(max_samples=3),
        "no score normalisation": dict(ppo_score_norm=True),
    }
    for words, over in cases.items():
        _, problems = prepare(ppo_config(root, output_dir=str(tmp_path / "x"), **over), trained_ws)
        assert any(words in p.message for p in errors(problems)), (words, problems)


def test_preflight_accepts_a_copied_workspace(trained_ws, tmp_path):
    ws = copy_ws(trained_ws, tmp_path / "moved")  # the RM's adapter_config still names the old SFT folder
    _, problems = prepare(ppo_config(ws.root), ws)
    assert not errors(problems), problems


# -- real runs ---------------------------------------------------------------------------------------

def _ppo_run(ws):
    runs = [r for r in list_runs(ws.runs_dir) if r.stage == "ppo"]
    assert runs, "the demo pipeline has no ppo run"
    return runs[0]


def test_demo_pipeline_ran_ppo_with_llamafactory_style_logs(trained_ws):
    run = _ppo_run(trained_ws)
    assert run.status == "succeeded", run.reason()
    assert run.record["argv"][1:3] == ["-m", MODULE]
    out = run.output_dir
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert (out / "running_log.txt").read_text(encoding="utf-8").strip()
    records = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert len(records) >= 2 and all(RECORD_KEYS <= set(r) for r in records), records
    assert all(re.fullmatch(r"\d+:\d\d:\d\d", r["elapsed_time"]) for r in records)
    assert records[-1]["current_steps"] == records[-1]["total_steps"] and records[-1]["percentage"] == 100
    rewards = [r["reward"] for r in records]
    assert len(set(rewards)) > 1, f"rewards are constant: {rewards}"
    reader = RunReader(run.trainer_log)
    reader.poll()
    assert reader.progress.series["reward"][1] == rewards and len(reader.progress.series["kl"][1]) == len(records)
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [h["objective/scores"] for h in history] == rewards  # the reward is TRL's reward-model score
    assert (trained_ws.root / DEMO / "export" / "ppo-merged" / "model.safetensors").is_file()


def test_ppo_result_exports_chats_and_moves_the_policy(trained_ws):
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "ppo_probe.py"), str(trained_ws.root)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    probe = json.loads(lines[-1][len("PROBE "):])
    assert probe["chat"] and probe["chat_adapter"] == probe["chat"]  # merged export == SFT + PPO adapter
    assert probe["generated"] > 0
    assert probe["merge_error"] < 1e-4
    assert probe["policy_shift"] > 1e-4, "the PPO adapter did not change the policy"
    assert probe["rm_medtui"] == pytest.approx(probe["rm_llamafactory"], abs=1e-5)


def test_graceful_stop_saves_the_adapter(trained_ws, tmp_path):
    ws = copy_ws(trained_ws, tmp_path / "ws")
    cfg = ppo_config(ws.root, output_dir="saves/test/ppo-stop", per_device_train_batch_size=2, num_train_epochs=20,
                     max_new_tokens=8, ppo_epochs=1)
    proc = medtui_cli("train", str(write_yaml(tmp_path / "ppo.yaml", cfg)), "--workspace", str(ws.root), "--detach")
    assert proc.returncode == 0, proc.stderr
    run = list_runs(ws.runs_dir)[0]
    deadline = time.monotonic() + 240
    while not (run.trainer_log.is_file() and run.trainer_log.read_text().strip()):
        assert load_run(run.run_dir).is_running, load_run(run.run_dir).reason()
        assert time.monotonic() < deadline, "no PPO step logged in time"
        time.sleep(0.5)
    proc = medtui_cli("stop", run.id, "--workspace", str(ws.root))
    assert proc.returncode == 0 and "stopped" in proc.stdout, proc.stdout + proc.stderr
    out = run.output_dir
    assert load_run(run.run_dir).status == "stopped"
    assert (out / "adapter_model.safetensors").is_file()
    results = json.loads((out / "all_results.json").read_text())
    assert results["stopped"] is True and 1 <= results["train_steps"] < 190


def test_two_process_run_under_torchrun(trained_ws, tmp_path):
    """Two CPU workers (gloo): the DDP path multi-GPU boxes take, with LoRA and a separate reference model."""
    ws = copy_ws(trained_ws, tmp_path / "ws")
    cfg = ppo_config(ws.root, output_dir="saves/test/ppo-ddp", per_device_train_batch_size=2, max_samples=8,
                     num_train_epochs=1, max_new_tokens=4, ppo_epochs=1, force_torchrun=True, nproc_per_node=2)
    proc = medtui_cli("train", str(write_yaml(tmp_path / "ppo.yaml", cfg)), "--workspace", str(ws.root))
    run = list_runs(ws.runs_dir)[0]
    assert proc.returncode == 0 and run.status == "succeeded", run.stderr_path.read_text()[-3000:]
    assert run.record["env"].get("FORCE_TORCHRUN") == "1"
    records = [json.loads(line) for line in run.trainer_log.read_text().splitlines()]
    # 8 prompts in batches of 2 per worker: 2 PPO steps with two workers (one worker would take 4)
    assert [r["current_steps"] for r in records] == [1, 2] and records[-1]["total_steps"] == 2
    assert (run.output_dir / "adapter_model.safetensors").is_file()
