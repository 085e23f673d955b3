"""The demo pipeline for real: PT → SFT → RM → DPO → KTO → export on the tiny demo model."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from medtui.core.errors import MedtuiError
from medtui.core.lifecycle.pipeline import load_pipeline, parse_pipeline
from medtui.core.lifecycle.wiring import latest_outputs, wire
from medtui.core.runs.records import list_runs
from tests.conftest import medtui_cli

pytestmark = pytest.mark.e2e

ADAPTER_STAGES = ("rm", "dpo", "kto", "ppo")


def runs_by_stage(ws):
    """The run of each training stage, and the export that merged the DPO adapter."""
    runs = [r for r in reversed(list_runs(ws.runs_dir)) if r.kind in ("train", "export")]  # not the pipeline run
    out = {r.stage: r for r in runs if r.stage != "export"}
    dpo = str(out["dpo"].output_dir)
    out["export"] = next(r for r in runs if r.stage == "export" and r.record["config"].get("adapter_name_or_path") == dpo)
    return out


def test_every_stage_succeeded_with_artifacts_and_finite_losses(trained_ws):
    runs = runs_by_stage(trained_ws)
    expected = [s.stage for s in load_pipeline("demo").stages]
    assert set(expected) <= set(runs)
    for stage, run in runs.items():
        assert run.status == "succeeded", (stage, run.reason())
        if stage == "export":
            continue
        records = [json.loads(x) for x in run.trainer_log.read_text().splitlines()]
        losses = [r["loss"] for r in records if "loss" in r]
        assert losses and all(math.isfinite(v) for v in losses), stage
        out = run.output_dir
        if stage in ADAPTER_STAGES:
            assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
        else:
            assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert (runs["rm"].output_dir / "value_head.safetensors").is_file()
    assert any("accuracy" in json.loads(x) for x in runs["dpo"].trainer_log.read_text().splitlines())


def test_stages_were_wired_to_their_predecessors(trained_ws):
    runs = runs_by_stage(trained_ws)
    cfg = {stage: run.record["config"] for stage, run in runs.items()}
    assert cfg["sft"]["model_name_or_path"] == str(runs["pt"].output_dir)
    for stage in ADAPTER_STAGES:
        assert cfg[stage]["model_name_or_path"] == str(runs["sft"].output_dir)
    assert cfg["export"]["model_name_or_path"] == str(runs["sft"].output_dir)
    assert cfg["export"]["adapter_name_or_path"] == str(runs["dpo"].output_dir)


def test_the_merged_export_loads_with_transformers_and_generates(trained_ws):
    export_dir = runs_by_stage(trained_ws)["export"].output_dir
    code = (
        "import sys, torch\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "tok = AutoTokenizer.from_pretrained(sys.argv[1]); model = AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        "ids = tok('高血压患者', return_tensors='pt').input_ids\n"
        "out = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)\n"
        "print(out.shape[1] - ids.shape[1])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(export_dir)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip().splitlines()[-1]) > 0


def test_lifecycle_wiring_from_workspace_runs(trained_ws):
    produced = latest_outputs(list_runs(trained_ws.runs_dir))
    sft = produced["sft"]
    dpo_cfg = wire("dpo", {"stage": "dpo", "finetuning_type": "lora"}, produced)
    assert dpo_cfg["model_name_or_path"] == sft.output_dir and "adapter_name_or_path" not in dpo_cfg
    explicit = wire("dpo", {"stage": "dpo", "model_name_or_path": "/elsewhere"}, produced)
    assert explicit["model_name_or_path"] == "/elsewhere"
    ppo = wire("ppo", {"stage": "ppo", "finetuning_type": "lora"}, produced)
    assert ppo["reward_model"] == produced["rm"].output_dir
    export = wire("export", {"export_dir": "x"}, produced, export_from="dpo")
    assert export["adapter_name_or_path"] == produced["dpo"].output_dir


def test_pipeline_stops_at_the_first_failure_naming_the_stage(trained_ws, tmp_path):
    pipe = tmp_path / "broken.yaml"
    pipe.write_text(
        "name: broken\n"
        "stages:\n"
        "  - name: sft\n    stage: sft\n    finetuning_type: lora\n    template: default\n"
        "    model_name_or_path: models/workflow-demo-tiny-qwen2\n    dataset: custom_rlhf_train_data\n"
        "    output_dir: saves/broken/sft\n"
        "  - name: dpo\n    stage: dpo\n    dataset: custom_rlhf_train_data\n    output_dir: saves/broken/dpo\n")
    proc = medtui_cli("pipeline", str(pipe), "--workspace", str(trained_ws.root))
    assert proc.returncode == 2
    assert "pipeline stopped at stage sft" in proc.stderr and "cannot use a ranking" in proc.stderr
    assert "== dpo" not in proc.stdout


def test_a_training_failure_is_exit_1_with_the_reason(demo_ws, tmp_path):
    pipe = tmp_path / "fails.yaml"
    # lora_target names a module the model does not have: llamafactory itself fails.
    pipe.write_text(
        "name: fails\nstages:\n  - name: sft\n    stage: sft\n    finetuning_type: lora\n    template: default\n"
        "    model_name_or_path: models/workflow-demo-tiny-qwen2\n    dataset: demo_sft_train_data\n"
        "    lora_target: no_such_module\n    output_dir: saves/fails/sft\n    preprocessing_num_workers: 1\n")
    proc = medtui_cli("pipeline", str(pipe), "--workspace", str(demo_ws.root))
    assert proc.returncode == 1
    assert "pipeline stopped at stage sft: failed:" in proc.stderr
    assert "no_such_module" in proc.stderr or "Error" in proc.stderr


@pytest.mark.parametrize("data, message", [
    ({"stages": []}, "non-empty 'stages'"),
    ({"stages": [{"name": "a"}]}, "with a 'stage' key"),
    ({"stages": [{"stage": "sft"}, {"stage": "sft"}]}, "duplicate stage name"),
    ({"stages": [{"stage": "export", "export_from": "dpo"}]}, "does not come before it"),
])
def test_bad_pipeline_files(data, message):
    with pytest.raises(MedtuiError, match=message):
        parse_pipeline(data)
