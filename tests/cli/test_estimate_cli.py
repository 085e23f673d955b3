"""``medtui estimate`` end to end in a subprocess: text, --json, exit codes, bad input, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import medtui_cli
from tests.unit.test_estimate import LLAMA3_8B

ROOT = Path(__file__).resolve().parents[2]


def _setup(demo_ws, tmp_path, **over):
    folder = tmp_path / "llama3-8b"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(LLAMA3_8B), encoding="utf-8")
    cfg = {"stage": "sft", "finetuning_type": "full", "model_name_or_path": str(folder), "cutoff_len": 2048,
           "dataset": "demo_sft_train_data", "output_dir": "saves/e", **over}
    path = tmp_path / "run config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_json_shape_and_exit_code_when_it_does_not_fit(demo_ws, tmp_path):
    cfg = _setup(demo_ws, tmp_path)
    proc = medtui_cli("estimate", str(cfg), "--gpu-memory", "24", "--json", "-w", str(demo_ws.root))
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["fits"] is False and out["per_gpu_bytes"] == sum(out["breakdown"].values())
    assert set(out["breakdown"]) == {"weights", "gradients", "optimizer", "activations", "logits", "cuda_context",
                                     "allocator_headroom"}
    assert out["fixes"] and all(set(f) == {"change", "per_gpu_bytes"} for f in out["fixes"])
    fits = medtui_cli("estimate", str(cfg), "--gpu-memory", "24", "--json", "--set", "finetuning_type=lora",
                      "--set", "quantization_bit=4", "-w", str(demo_ws.root))
    assert fits.returncode == 0 and json.loads(fits.stdout)["fits"] is True


def test_text_report_says_ddp_replicates_and_lists_fixes(demo_ws, tmp_path):
    cfg = _setup(demo_ws, tmp_path)
    proc = medtui_cli("estimate", str(cfg), "--gpus", "4", "--gpu-memory", "80", "-w", str(demo_ws.root))
    assert "every one of the 4 GPUs holds the whole model" in proc.stdout
    assert "to make it fit (least quality loss first)" in proc.stdout and "--set deepspeed_stage=3" in proc.stdout
    assert "peak GPU memory per device" in proc.stdout and "gradient checkpointing on" in proc.stdout


def test_bad_input_is_one_line(demo_ws, tmp_path):
    cfg = _setup(demo_ws, tmp_path, model_name_or_path=str(tmp_path / "missing"))
    proc = medtui_cli("estimate", str(cfg), "-w", str(demo_ws.root))
    assert proc.returncode == 2 and "model folder not found" in proc.stderr and "Traceback" not in proc.stderr
    ok = _setup(demo_ws, tmp_path)
    proc = medtui_cli("estimate", str(ok), "--gpus", "0", "-w", str(demo_ws.root))
    assert proc.returncode == 2 and "--gpus must be at least 1" in proc.stderr
    proc = medtui_cli("estimate", str(ok), "--model-config", str(tmp_path / "llama3-8b" / "config.json"),
                      "--json", "-w", str(demo_ws.root))
    assert proc.returncode == 0 and json.loads(proc.stdout)["fits"] in (None, True, False)


def test_estimate_imports_no_torch(demo_ws, tmp_path):
    cfg = _setup(demo_ws, tmp_path)
    code = ("import sys\nfrom medtui.cli import main\nrc = main(['estimate', sys.argv[1], '--json'])\n"
            "heavy = [m for m in ('torch','transformers','llamafactory') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in proc.stdout, proc.stderr


def test_train_dry_run_shows_the_estimate(demo_ws, tmp_path):
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(yaml.safe_dump({"stage": "sft", "finetuning_type": "lora", "template": "default",
                                   "model_name_or_path": "models/workflow-demo-tiny-qwen2",
                                   "dataset": "demo_sft_train_data", "output_dir": "saves/dry"}))
    proc = medtui_cli("train", str(cfg), "--dry-run", "-w", str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    assert "# peak GPU memory per device" in proc.stdout and "#   logits" in proc.stdout
