"""The headless CLI: help, exit codes, dry-run, runs listing, awkward paths, README/CI drift."""

from __future__ import annotations

import json
import shutil

import yaml

from tests.conftest import medtui_cli


def test_awkward_paths_with_spaces_and_quotes_work(demo_ws, tmp_path):
    data_dir = demo_ws.root / "my data 'v2'"
    shutil.copytree(demo_ws.data_dir, data_dir)
    cfg = {"stage": "sft", "finetuning_type": "lora", "template": "default",
           "model_name_or_path": "models/workflow-demo-tiny-qwen2", "dataset": "demo_sft_train_data",
           "dataset_dir": str(data_dir), "output_dir": "saves/out put \"x\"; rm -rf ~",
           "max_steps": 2, "logging_steps": 1, "preprocessing_num_workers": 1, "cutoff_len": 32}
    path = tmp_path / "a b.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = medtui_cli("train", str(path), "--workspace", str(demo_ws.root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = demo_ws.root / "saves" / "out put \"x\"; rm -rf ~"
    assert (out / "adapter_model.safetensors").is_file()
    runs = json.loads(medtui_cli("runs", "--json", "--workspace", str(demo_ws.root)).stdout)
    assert runs[0]["output_dir"] == str(out) and runs[0]["status"] == "succeeded"


