"""Evaluation settings, method-specific keys, standalone saved YAML and LlamaBoard output folders."""

from __future__ import annotations

import json

import pytest
import yaml

from medtui.core.errors import MedtuiError
from medtui.core.lifecycle.prefill import retarget_output
from medtui.core.stages import llamaboard
from medtui.core.stages.builder import build_plan, load_config_file
from medtui.core.stages.saved import standalone
from medtui.core.workspace import Workspace

BASE = {"stage": "sft", "model_name_or_path": "models/m", "dataset": "d", "output_dir": "saves/m/lora/sft"}


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    ws.ensure_layout()
    return ws


def test_val_size_turns_on_evaluation_like_llamaboard(ws):
    body = build_plan({**BASE, "val_size": 0.2, "save_steps": 7, "per_device_train_batch_size": 3}, ws).yaml_config
    assert (body["eval_strategy"], body["eval_steps"], body["per_device_eval_batch_size"]) == ("steps", 7, 3)


def test_no_val_size_no_evaluation_and_user_choices_win(ws):
    assert "eval_strategy" not in build_plan(BASE, ws).yaml_config
    body = build_plan({**BASE, "val_size": 0.1, "eval_steps": 3, "per_device_eval_batch_size": 1}, ws).yaml_config
    assert (body["eval_strategy"], body["eval_steps"], body["per_device_eval_batch_size"]) == ("steps", 3, 1)
    off = build_plan({**BASE, "val_size": 0.1, "eval_strategy": "no"}, ws).yaml_config
    assert off["eval_strategy"] == "no" and "eval_steps" not in off
    ppo = build_plan({**BASE, "stage": "ppo", "reward_model": "r", "val_size": 0.1}, ws).yaml_config
    assert "eval_strategy" not in ppo


def test_full_runs_carry_no_lora_keys(ws):
    plan = build_plan({**BASE, "finetuning_type": "full", "lora_rank": 16, "lora_target": "all",
                       "pref_beta": 0.2}, ws)
    assert not [k for k in plan.yaml_config if k.startswith("lora_")] and "pref_beta" not in plan.yaml_config
    assert plan.dropped == {"lora_rank": "applies to finetuning_type lora only",
                            "lora_target": "applies to finetuning_type lora only",
                            "pref_beta": "applies to dpo, kto only"}
    lora = build_plan({**BASE, "finetuning_type": "lora"}, ws).yaml_config
    assert lora["lora_rank"] == 8 and "use_galore" not in lora


def test_switched_settings_only_with_their_switch(ws):
    off = build_plan({**BASE, "finetuning_type": "full"}, ws).yaml_config
    assert "use_galore" not in off and "galore_rank" not in off and "quantization_method" not in off
    on = build_plan({**BASE, "finetuning_type": "full", "use_galore": True}, ws).yaml_config
    assert (on["galore_rank"], on["galore_target"]) == (16, "all")
    q = build_plan({**BASE, "quantization_bit": 4}, ws).yaml_config
    assert q["quantization_method"] == "bnb"


def test_saved_yaml_is_standalone_with_paths_as_typed(ws, tmp_path):
    outside = tmp_path / "elsewhere" / "out"
    cfg = {**BASE, "finetuning_type": "full", "output_dir": str(outside), "lora_rank": 4, "val_size": 0.2,
           "devices": "0", "deepspeed_stage": 2}
    saved = standalone(cfg, ws, "configs/sft.yaml")
    body = saved.yaml_config
    assert body["do_train"] is True and body["stage"] == "sft"
    assert body["dataset_dir"] == "data" and body["model_name_or_path"] == "models/m"
    assert body["output_dir"] == str(outside)  # typed absolute, kept absolute
    assert "lora_rank" not in body and "devices" not in body and "deepspeed_stage" not in body
    assert body["eval_strategy"] == "steps"
    assert body["deepspeed"] == "configs/sft_ds_z2_config.json"
    saved.write()
    assert json.loads((ws.root / "configs/sft_ds_z2_config.json").read_text())["zero_optimization"]["stage"] == 2
    text = (ws.root / "configs/sft.yaml").read_text()
    assert "CUDA_VISIBLE_DEVICES=0" in text.splitlines()[1] and "llamafactory-cli train configs/sft.yaml" in text
    assert yaml.safe_load(text) == body
    back = load_config_file(ws.root / "configs/sft.yaml")
    assert back["devices"] == "0" and back["deepspeed_stage"] == 2  # launch settings come back


def test_saved_yaml_absolute_and_bare_names(ws):
    saved = standalone({**BASE, "output_dir": "my_run"}, ws, "c.yaml")
    assert saved.yaml_config["output_dir"] == "saves/my_run"
    absolute = standalone({**BASE, "output_dir": "my_run"}, ws, "c.yaml", absolute=True).yaml_config
    assert absolute["output_dir"] == str(ws.root / "saves/my_run")
    assert absolute["dataset_dir"] == str(ws.data_dir) and absolute["model_name_or_path"] == str(ws.root / "models/m")
    hub = standalone({**BASE, "model_name_or_path": "Qwen/Qwen2-0.5B"}, ws, "c.yaml").yaml_config
    assert hub["model_name_or_path"] == "Qwen/Qwen2-0.5B"


@pytest.mark.parametrize("before, old, new, after", [
    ("saves/Qwen2-0.5B/full/sft", "full", "lora", "saves/Qwen2-0.5B/lora/sft"),
    ("saves/m/lora/full", "lora", "full", "saves/m/full/full"),  # the run's own name is never touched
    ("saves/my_run", "full", "lora", None),
    (None, "full", "lora", None),
])
def test_method_change_retargets_the_suggested_output(before, old, new, after):
    assert retarget_output(before, old, new) == after


LLAMABOARD_FORM = {
    "top.lang": "en", "top.model_name": "Qwen2-0.5B", "top.finetuning_type": "lora",
    "top.checkpoint_path": ["train_2024-01-01"], "top.quantization_bit": "4", "top.quantization_method": "bnb",
    "top.template": "qwen", "top.rope_scaling": "none", "top.booster": "unsloth",
    "train.training_stage": "Supervised Fine-Tuning", "train.dataset_dir": "data", "train.dataset": ["a", "b"],
    "train.learning_rate": "1e-4", "train.num_train_epochs": "2.0", "train.compute_type": "pure_bf16",
    "train.batch_size": 4, "train.val_size": 0.1, "train.neftune_alpha": 0, "train.use_pissa": True,
    "train.extra_args": '{"optim": "adamw_torch", "weight_decay": 0.01}', "train.ds_stage": "none",
    "train.loraplus_lr_ratio": 0, "train.image_max_pixels": "768*768", "eval.dataset": ["c"],
}


def test_llamaboard_form_state_becomes_a_config(tmp_path):
    cfg = llamaboard.config_from_llamaboard(LLAMABOARD_FORM, save_dir=tmp_path / "saves/Qwen2-0.5B/lora")
    assert cfg["stage"] == "sft" and cfg["finetuning_type"] == "lora" and cfg["template"] == "qwen"
    assert cfg["adapter_name_or_path"] == str(tmp_path / "saves/Qwen2-0.5B/lora/train_2024-01-01")
    assert cfg["quantization_bit"] == 4 and cfg["use_unsloth"] is True and cfg["pure_bf16"] is True
    assert cfg["dataset"] == "a,b" and cfg["per_device_train_batch_size"] == 4 and cfg["val_size"] == 0.1
    assert cfg["pissa_init"] is cfg["pissa_convert"] is True
    assert cfg["optim"] == "adamw_torch" and cfg["weight_decay"] == 0.01
    for absent in ("rope_scaling", "deepspeed_stage", "neftune_noise_alpha", "loraplus_lr_ratio", "eval_dataset",
                   "image_max_pixels", "lang"):
        assert absent not in cfg


def test_opening_a_llamaboard_output_folder(tmp_path):
    folder = tmp_path / "saves/Qwen2-0.5B/lora/train_x"
    folder.mkdir(parents=True)
    (folder / "llamaboard_config.yaml").write_text(yaml.safe_dump(LLAMABOARD_FORM))
    cfg = llamaboard.load_output_folder(folder)
    assert cfg["output_dir"] == str(folder) and cfg["learning_rate"] == "1e-4"
    (folder / "training_args.yaml").write_text(yaml.safe_dump({"stage": "dpo", "model_name_or_path": "/m",
                                                               "output_dir": str(folder), "pref_beta": 0.3}))
    cfg = llamaboard.load_output_folder(folder)  # the exact arguments LlamaBoard ran win
    assert cfg["stage"] == "dpo" and cfg["pref_beta"] == 0.3
    with pytest.raises(MedtuiError, match="neither training_args.yaml nor llamaboard_config.yaml"):
        llamaboard.load_output_folder(tmp_path)
