"""The PPO stage: medtui's engine on TRL's PPOTrainer, its wiring in the core, and real runs on the demo.

``trained_ws`` ran the demo pipeline, which includes RM (lora) -> PPO (lora) -> export-ppo. The
heavy checks (chat, logits, reward model) run in one subprocess, ``tests/ppo_probe.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

from medtui.core.env import llamafactory_compat as compat
from medtui.core.runs.progress import Progress
from medtui.core.runs.records import list_runs
from medtui.core.stages import ppo_support as support_mod
from medtui.core.stages.builder import build_plan

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
    assert compat.trl_pin(pin) == "trl>=0.8.6,<=0.9.6"
    assert compat.trl_pin("import trl\n") is None
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


# -- real runs ---------------------------------------------------------------------------------------

def _ppo_run(ws):
    runs = [r for r in list_runs(ws.runs_dir) if r.stage == "ppo"]
    assert runs, "the demo pipeline has no ppo run"
    return runs[0]


