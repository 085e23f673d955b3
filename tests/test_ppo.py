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

from medtui.core.runs.progress import Progress, RunReader
from medtui.core.runs.records import list_runs, load_run
from medtui.core.stages import ppo_support as support_mod
from medtui.core.stages.builder import build_plan
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

def test_engine_choice_follows_llamafactorys_trl_pin():
    pin = 'require_version(\n    "trl>=0.8.6,<=0.9.6",\n    "Incompatible TRL version"'
    assert support_mod.trl_requirement(pin) == "trl>=0.8.6,<=0.9.6"
    assert support_mod.trl_requirement("import trl\n") is None
    assert support_mod.decide("trl>=0.8.6,<=0.9.6", "0.24.0").engine == "medtui"
    assert support_mod.decide("trl>=0.8.6,<=0.9.6", "0.9.6").engine == "llamafactory"
    assert support_mod.decide("trl>=0.18", "0.24.0").uses_llamafactory
    assert support_mod.decide(None, "0.24.0").engine == "medtui"  # no readable pin: stay on medtui
    assert support_mod.decide("trl>=0.8", None).engine == "medtui"
    assert support_mod.decide(None, "0.24.0", found=False).engine == "medtui"


def test_engine_choice_reads_the_installed_llamafactory():
    from importlib import metadata

    from packaging.requirements import Requirement

    found = support_mod.ppo_support()
    assert found.requirement and found.requirement.startswith("trl")
    satisfied = Requirement(found.requirement).specifier.contains(metadata.version("trl"), prereleases=True)
    assert found.uses_llamafactory == satisfied
    assert "PPO" in found.message("en") and "PPO" in found.message("zh")


def test_ppo_plan_runs_medtuis_engine_and_preview_shows_it(demo_ws):
    plan = build_plan(ppo_config(demo_ws.root, ppo_kl_coef=0.1), demo_ws)
    assert plan.argv == [sys.executable, "-m", MODULE, str(plan.yaml_path)]
    assert "-m medtui.engines.ppo_train" in plan.preview()
    assert plan.yaml_config["ppo_kl_coef"] == 0.1 and plan.yaml_config["stage"] == "ppo"
    assert plan.env["LLAMABOARD_ENABLED"] == "1" and plan.env["LLAMABOARD_WORKDIR"] == str(plan.output_dir)


def test_ppo_plan_uses_llamafactory_when_it_supports_the_installed_trl(demo_ws, monkeypatch):
    monkeypatch.setattr("medtui.core.stages.builder.ppo_support",
                        lambda: support_mod.decide("trl>=0.18", "0.24.0"))
    plan = build_plan(ppo_config(demo_ws.root, ppo_kl_coef=0.1), demo_ws)
    assert plan.argv[1:] == ["train", str(plan.yaml_path)] and plan.argv[0].endswith("llamafactory-cli")
    assert "ppo_kl_coef" not in plan.yaml_config  # llamafactory rejects unknown arguments


def test_engine_refuses_a_config_it_cannot_honour(tmp_path):
    cfg = write_yaml(tmp_path / "ppo.yaml", ppo_config(tmp_path, ppo_score_norm=True))
    proc = subprocess.run([sys.executable, "-m", MODULE, str(cfg)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "ppo_score_norm" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", MODULE], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_torchrun_relaunch_like_llamafactory_cli(monkeypatch):
    from medtui.engines.ppo_train import torchrun_argv

    for key in ("LOCAL_RANK", "FORCE_TORCHRUN", "NPROC_PER_NODE", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert torchrun_argv("c.yaml", 1) is None and torchrun_argv("c.yaml", 0) is None
    argv = torchrun_argv("c.yaml", 4)
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"] and argv[-3:] == ["-m", MODULE, "c.yaml"]
    assert argv[argv.index("--nproc_per_node") + 1] == "4"
    monkeypatch.setenv("FORCE_TORCHRUN", "1")
    monkeypatch.setenv("NPROC_PER_NODE", "2")
    monkeypatch.setenv("MASTER_PORT", "29555")
    argv = torchrun_argv("c.yaml", 0)
    assert argv[argv.index("--nproc_per_node") + 1] == "2" and argv[argv.index("--master_port") + 1] == "29555"
    monkeypatch.setenv("LOCAL_RANK", "0")  # already a torchrun worker
    assert torchrun_argv("c.yaml", 4) is None


def test_progress_charts_reward_kl_and_value_loss():
    progress = Progress()
    progress.add([{"current_steps": 1, "total_steps": 3, "loss": 0.1, "reward": 0.4, "kl": 0.02,
                   "value_loss": 0.03, "lr": 1e-3, "elapsed_time": "0:00:02", "remaining_time": "0:00:04"},
                  {"current_steps": 2, "total_steps": 3, "reward": 0.5, "kl": 0.05, "value_loss": 0.02}])
    assert progress.series["reward"] == ([1, 2], [0.4, 0.5])
    assert progress.series["kl"][1] == [0.02, 0.05] and progress.series["value_loss"][1] == [0.03, 0.02]
    assert "reward 0.5000" in progress.line() and "kl 0.0500" in progress.line()


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
