"""The stage specification and the command builder."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from medtui.core.errors import MedtuiError
from medtui.core.stages import spec
from medtui.core.stages.builder import build_plan, load_config_file
from medtui.core.stages.validate import coerce, validate
from medtui.core.workspace import Workspace

# The tutorial's SFT command line (LlamaBoard "Preview command"), flag by flag.
TUTORIAL_SFT = """--stage sft --do_train True --model_name_or_path saves/Qwen2-0.5B/full/Qwen2_pretrain_output_demo1
--preprocessing_num_workers 16 --finetuning_type full --template default --flash_attn auto --dataset_dir data
--dataset custom_sft_train_data --cutoff_len 1024 --learning_rate 5e-05 --num_train_epochs 3.0 --max_samples 100000
--per_device_train_batch_size 2 --gradient_accumulation_steps 8 --lr_scheduler_type cosine --max_grad_norm 1.0
--logging_steps 5 --save_steps 100 --warmup_steps 0 --optim adamw_torch --packing False --report_to none
--output_dir saves/Qwen2-0.5B/full/Qwen2_sft_output_demo1 --bf16 True --plot_loss True --ddp_timeout 180000000
--include_num_input_tokens_seen True"""


def tutorial_sft_config() -> dict:
    words = shlex.split(TUTORIAL_SFT)
    return {words[i][2:]: yaml.safe_load(words[i + 1]) for i in range(0, len(words), 2)}


def test_every_tutorial_sft_argument_is_in_the_spec():
    missing = [k for k in tutorial_sft_config() if k not in spec.ARG_BY_NAME and k not in ("stage", "do_train")]
    assert missing == []


def test_llamaboard_fields_are_in_the_spec():
    for name in ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "pref_beta", "pref_loss", "reward_model",
                 "reward_model_type", "deepspeed_stage", "deepspeed_offload", "devices", "fp16", "bf16",
                 "adapter_name_or_path", "quantization_bit", "rope_scaling", "export_size", "export_device",
                 "export_legacy_format"):
        assert name in spec.ARG_BY_NAME, name


@pytest.mark.parametrize("arg", spec.ARGS, ids=lambda a: a.name)
def test_each_arg_is_complete(arg):
    assert arg.help_en and arg.help_zh and arg.help_en != arg.help_zh
    assert arg.type in ("str", "int", "float", "bool", "path", "list", "choice")
    assert arg.section in spec.SECTIONS
    assert set(arg.stages) <= set(spec.STAGES) and arg.stages
    assert arg.target in ("yaml", "env", "launch")
    if arg.type == "choice":
        assert arg.choices and arg.default in arg.choices
    if arg.default is not None:
        assert coerce(arg, arg.default) == arg.default


def test_args_for_filters_by_stage_and_method():
    lora = {a.name for a in spec.args_for("sft", "lora")}
    full = {a.name for a in spec.args_for("sft", "full")}
    assert "lora_rank" in lora and "lora_rank" not in full
    assert "pref_beta" in {a.name for a in spec.args_for("dpo", "lora")} and "pref_beta" not in lora
    assert "reward_model" in {a.name for a in spec.args_for("ppo", "lora")}
    assert "export_dir" in {a.name for a in spec.args_for("export")} and "dataset" not in {
        a.name for a in spec.args_for("export")}


@pytest.mark.parametrize("name, raw, expected", [
    ("learning_rate", "5e-5", 5e-5), ("num_train_epochs", "3", 3.0), ("cutoff_len", "1024", 1024),
    ("bf16", "True", True), ("packing", "no", False), ("finetuning_type", "LoRA", "lora"),
    ("dataset", "a, b,,c", "a,b,c"), ("deepspeed_stage", "3", 3), ("quantization_bit", "none", None),
])
def test_coercion_of_form_strings(name, raw, expected):
    assert coerce(spec.ARG_BY_NAME[name], raw) == expected


@pytest.mark.parametrize("name, raw, message", [
    ("learning_rate", "fast", "must be a number"), ("cutoff_len", "1.5", "whole number"),
    ("cutoff_len", "0", "at least 1"), ("lora_dropout", "2", "at most 1"), ("bf16", "maybe", "true or false"),
    ("finetuning_type", "qlora", "one of full, freeze, lora"), ("learning_rate", "nan", "finite"),
])
def test_bad_values_get_readable_messages(name, raw, message):
    with pytest.raises(ValueError, match=message):
        coerce(spec.ARG_BY_NAME[name], raw)


def test_validate_reports_required_and_exclusive_fields():
    problems = validate({"stage": "sft", "bf16": True, "fp16": True, "finetuning_type": "lora"})
    fields = {p.field for p in problems}
    assert {"model_name_or_path", "dataset", "output_dir", "fp16"} <= fields
    assert validate({"stage": "warp"})[0].field == "stage"


def test_plan_writes_a_llamafactory_yaml_with_absolute_paths(tmp_path):
    ws = Workspace.open(tmp_path)
    cfg = tutorial_sft_config()
    cfg["my_future_flag"] = {"kept": [1, 2]}
    plan = build_plan(cfg, ws, run_id="r1")
    assert plan.argv[1:] == ["train", str(ws.runs_dir / "r1" / "config.yaml")]
    assert plan.argv[0].endswith("llamafactory-cli")
    body = plan.yaml_config
    assert body["stage"] == "sft" and body["do_train"] is True
    assert body["output_dir"] == str(tmp_path / "saves/Qwen2-0.5B/full/Qwen2_sft_output_demo1")
    assert body["dataset_dir"] == str(tmp_path / "data")
    assert body["my_future_flag"] == {"kept": [1, 2]}  # unknown keys pass through untouched
    assert body["learning_rate"] == 5e-5 and body["bf16"] is True
    plan.write_files()
    assert yaml.safe_load(plan.yaml_path.read_text()) == body
    assert plan.env["LLAMABOARD_ENABLED"] == "1" and plan.env["LLAMABOARD_WORKDIR"] == body["output_dir"]


def test_bare_output_name_goes_under_saves_and_hub_ids_stay(tmp_path):
    ws = Workspace.open(tmp_path)
    plan = build_plan({"stage": "sft", "model_name_or_path": "Qwen/Qwen2-0.5B", "dataset": "d",
                       "output_dir": "my_run"}, ws)
    assert plan.output_dir == tmp_path / "saves" / "my_run"
    assert plan.yaml_config["model_name_or_path"] == "Qwen/Qwen2-0.5B"


def test_distributed_settings_go_to_the_environment_and_deepspeed_json(tmp_path):
    ws = Workspace.open(tmp_path)
    plan = build_plan({"stage": "sft", "model_name_or_path": "m", "dataset": "d", "output_dir": "o",
                       "devices": "0,1", "nnodes": 2, "node_rank": 1, "master_addr": "10.0.0.1",
                       "master_port": 29500, "use_ray": True, "deepspeed_stage": 3, "deepspeed_offload": True}, ws,
                      run_id="r2")
    assert plan.env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert (plan.env["NNODES"], plan.env["NODE_RANK"], plan.env["MASTER_ADDR"], plan.env["MASTER_PORT"]) == (
        "2", "1", "10.0.0.1", "29500")
    assert plan.env["USE_RAY"] == "1" and plan.env["FORCE_TORCHRUN"] == "1"
    for key in ("devices", "nnodes", "deepspeed_stage", "deepspeed_offload", "use_ray"):
        assert key not in plan.yaml_config
    plan.write_files()
    ds = json.loads(Path(plan.yaml_config["deepspeed"]).read_text())
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["offload_param"]["device"] == "cpu"
    assert Path(plan.yaml_config["deepspeed"]).name == "ds_z3_offload_config.json"


def test_preview_is_shlex_quoted_for_awkward_paths(tmp_path):
    root = tmp_path / "my ws; 'quoted' \"dir\""
    ws = Workspace.open(root)
    plan = build_plan({"stage": "pt", "model_name_or_path": "models/m", "dataset": "d",
                       "output_dir": "saves/out put"}, ws, run_id="r3")
    line = plan.command_line()
    words = shlex.split(line)
    assert words[-1] == str(root / ".medtui/runs/r3/config.yaml")
    assert f"LLAMABOARD_WORKDIR={root / 'saves/out put'}" in words
    assert "# cwd:" in plan.preview() and "stage: pt" in plan.preview()


def test_export_plan_uses_the_export_verb(tmp_path):
    ws = Workspace.open(tmp_path)
    plan = build_plan({"model_name_or_path": "models/m", "adapter_name_or_path": "saves/a, saves/b",
                       "export_dir": "saves/merged", "template": "default", "finetuning_type": "lora"}, ws)
    assert plan.stage == "export" and plan.argv[1] == "export"
    assert plan.yaml_config["adapter_name_or_path"] == f"{tmp_path}/saves/a,{tmp_path}/saves/b"
    assert "stage" not in plan.yaml_config and "do_train" not in plan.yaml_config
    assert plan.output_dir == tmp_path / "saves/merged"


def test_uncoercible_values_refuse_to_plan(tmp_path):
    with pytest.raises(MedtuiError, match="learning_rate: must be a number"):
        build_plan({"stage": "sft", "learning_rate": "fast"}, Workspace.open(tmp_path))


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"), ("- a\n- b\n", "expected a mapping"), ("stage: [sft\n", "invalid YAML at line"),
])
def test_bad_config_files(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(MedtuiError, match=message):
        load_config_file(path)
    with pytest.raises(MedtuiError, match="not found"):
        load_config_file(tmp_path / "missing.yaml")
