"""One test per pre-flight rule, on a real demo workspace; the CLI turns failures into exit 2."""

from __future__ import annotations

import json

import pytest

from medtui.core.data.registry import DatasetRegistry
from medtui.core.stages import preflight
from medtui.core.stages.builder import build_plan
from tests.conftest import medtui_cli

MODEL = "models/workflow-demo-tiny-qwen2"
OK_ENV = preflight.Environment(disk_free=lambda _p: 10**12, bf16_support=lambda: (True, ""))


def sft(**over):
    cfg = {"stage": "sft", "finetuning_type": "lora", "model_name_or_path": MODEL, "dataset": "demo_sft_train_data",
           "template": "default", "output_dir": "saves/t/sft", "save_steps": 1000}
    cfg.update(over)
    return cfg


def problems(ws, cfg, env=OK_ENV):
    return preflight.check(build_plan(cfg, ws), ws, env)


def errors_on(ws, cfg, env=OK_ENV):
    return {(p.field, p.message) for p in problems(ws, cfg, env) if p.level == "error"}


def one_error(ws, cfg, field, needle, env=OK_ENV):
    errs = [m for f, m in errors_on(ws, cfg, env) if f == field]
    assert errs and any(needle in m for m in errs), errors_on(ws, cfg, env)


def test_a_good_config_passes(demo_ws):
    assert errors_on(demo_ws, sft()) == set()


def test_missing_model_folder(demo_ws):
    one_error(demo_ws, sft(model_name_or_path="models/nope"), "model_name_or_path", "model folder not found")


def test_model_folder_without_config(demo_ws):
    (demo_ws.models_dir / "empty").mkdir()
    one_error(demo_ws, sft(model_name_or_path="models/empty"), "model_name_or_path", "no config.json")


def test_hub_id_is_a_warning_not_an_error(demo_ws):
    found = problems(demo_ws, sft(model_name_or_path="Qwen/Qwen2-0.5B"))
    assert [p.level for p in found if p.field == "model_name_or_path"] == ["warn"]


def test_missing_adapter(demo_ws):
    one_error(demo_ws, sft(adapter_name_or_path="saves/none"), "adapter_name_or_path", "no LoRA adapter")


def test_unregistered_dataset(demo_ws):
    one_error(demo_ws, sft(dataset="nope"), "dataset", "not registered")


def test_registered_dataset_with_missing_file(demo_ws):
    # The tutorial's own SFT entry points at a ModelScope download that is not here.
    one_error(demo_ws, sft(dataset="custom_sft_train_data"), "dataset", "data file not found")


@pytest.mark.parametrize("stage", ["rm", "dpo"])
def test_rm_and_dpo_need_ranking(demo_ws, stage):
    one_error(demo_ws, sft(stage=stage), "dataset", "needs a preference dataset")


@pytest.mark.parametrize("stage", ["sft", "pt", "kto"])
def test_plain_stages_refuse_ranking(demo_ws, stage):
    one_error(demo_ws, sft(stage=stage, dataset="custom_rlhf_train_data", cutoff_len=8), "dataset",
              "cannot use a ranking")


def test_kto_needs_kto_tag(demo_ws):
    one_error(demo_ws, sft(stage="kto"), "dataset", "needs a kto_tag column")
    assert errors_on(demo_ws, sft(stage="kto", dataset="demo_kto_train_data")) == set()


def test_pt_needs_a_text_prompt_column(demo_ws):
    reg = DatasetRegistry(demo_ws.registry_path)
    reg.add("pt_wrong_column", {"file_name": "custom_pt_train_data.json", "columns": {"prompt": "content"}})
    one_error(demo_ws, sft(stage="pt", finetuning_type="full", dataset="pt_wrong_column", cutoff_len=16), "dataset",
              "'content' (prompt) in every record; the records have keys: text")


def test_pt_packing_with_too_few_tokens(demo_ws):
    # 27 sentences are ~90 tokens with the demo tokenizer: counted for real in a subprocess.
    one_error(demo_ws, sft(stage="pt", finetuning_type="full", dataset="custom_pt_train_data", cutoff_len=1024),
              "cutoff_len", "Cannot find sufficient samples")
    ok = sft(stage="pt", finetuning_type="full", dataset="custom_pt_train_data", cutoff_len=16)
    assert errors_on(demo_ws, ok) == set()
    assert errors_on(demo_ws, dict(ok, cutoff_len=1024, packing=False)) == set()


def test_pt_token_estimate_when_the_tokenizer_cannot_run(demo_ws):
    env = preflight.Environment(disk_free=lambda _p: 10**12, bf16_support=lambda: (True, ""),
                                count_tokens=lambda *_a: None)
    one_error(demo_ws, sft(stage="pt", finetuning_type="full", dataset="custom_pt_train_data", cutoff_len=4096),
              "cutoff_len", "estimated from characters", env=env)


def test_pt_estimate_skips_text_that_is_not_a_string(demo_ws):
    """A null text value (llamafactory skips such a record) never crashes the estimate from characters."""
    import json

    path = demo_ws.root / "data" / "custom_pt_train_data.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(records + [{"text": None}],
                               ensure_ascii=False), encoding="utf-8")
    env = preflight.Environment(disk_free=lambda _p: 10**12, bf16_support=lambda: (True, ""),
                                count_tokens=lambda *_a: None)
    one_error(demo_ws, sft(stage="pt", finetuning_type="full", dataset="custom_pt_train_data", cutoff_len=4096),
              "cutoff_len", "estimated from characters", env=env)


def test_bf16_where_unsupported(demo_ws):
    # The real probe on this machine (no GPU), not an injected answer.
    env = preflight.Environment(disk_free=lambda _p: 10**12)
    ok, why = env.bf16_support()
    if ok:
        pytest.skip("this machine has a bf16-capable GPU")
    one_error(demo_ws, sft(bf16=True), "bf16", "bf16 is not supported here", env=env)


def test_output_folder_with_a_finished_model(demo_ws):
    out = demo_ws.saves_dir / "t" / "sft"
    out.mkdir(parents=True)
    (out / "adapter_model.safetensors").write_bytes(b"x")
    one_error(demo_ws, sft(), "output_dir", "already holds a finished model")
    assert errors_on(demo_ws, sft(overwrite_output_dir=True)) == set()


def test_not_enough_disk_for_the_checkpoints(demo_ws):
    env = preflight.Environment(disk_free=lambda _p: 1000, bf16_support=lambda: (True, ""))
    one_error(demo_ws, sft(finetuning_type="full", save_steps=1, num_train_epochs=3), "save_steps",
              "checkpoint(s)", env=env)
    plan = build_plan(sft(finetuning_type="full", save_steps=1, num_train_epochs=3), demo_ws)
    need_many, saves_many = preflight.estimate_disk(plan, plan.yaml_config, 19)
    plan2 = build_plan(sft(finetuning_type="full", save_steps=1000, num_train_epochs=3), demo_ws)
    need_few, saves_few = preflight.estimate_disk(plan2, plan2.yaml_config, 19)
    assert saves_many > saves_few and need_many > need_few


def test_export_into_a_folder_with_a_model(demo_ws):
    out = demo_ws.saves_dir / "exported"
    out.mkdir(parents=True)
    (out / "model.safetensors").write_bytes(b"x")
    cfg = {"model_name_or_path": MODEL, "export_dir": "saves/exported", "template": "default"}
    one_error(demo_ws, cfg, "export_dir", "already holds an exported model")


def test_cli_exits_2_with_the_message_and_starts_nothing(demo_ws, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(json.dumps(sft(dataset="custom_rlhf_train_data")))
    proc = medtui_cli("train", str(cfg), "--workspace", str(demo_ws.root))
    assert proc.returncode == 2
    assert "cannot use a ranking" in proc.stderr and "Traceback" not in proc.stderr
    assert not demo_ws.runs_dir.exists() or not any(demo_ws.runs_dir.iterdir())


@pytest.mark.parametrize("stage", ["pt", "sft", "rm", "ppo", "dpo", "kto", "export"])
@pytest.mark.parametrize("method", ["lora", "full", "freeze"])
def test_every_key_medtui_writes_is_one_llamafactory_accepts(demo_ws, stage, method):
    """The spec's defaults for each stage and method, as the builder writes them, pass the unknown-key check."""
    from medtui.core.stages.spec import args_for

    cfg = {"finetuning_type": method, "model_name_or_path": MODEL, "template": "qwen"}
    if stage == "export":
        cfg["export_dir"] = "saves/exported"
    else:
        cfg.update(stage=stage, dataset="demo_sft_train_data", output_dir="saves/t/x")
    for arg in args_for(stage, method):  # every optional yaml argument set, not only the defaults
        if arg.target == "yaml" and arg.name not in cfg and arg.default is not None:
            cfg[arg.name] = arg.default
    plan = build_plan(cfg, demo_ws)
    assert preflight.check_arguments(plan) == []
    bad = build_plan({**cfg, "lora_rnak": 8, "template": "qwen2.5"}, demo_ws)
    found = {p.field: p.message for p in preflight.check_arguments(bad)}
    assert "did you mean lora_rank" in found["lora_rnak"] and "has no template 'qwen2.5'" in found["template"]


def test_disk_estimate_parts(demo_ws):
    from medtui.core.runs.diskplan import estimate

    def est(**over):
        return estimate(build_plan(sft(save_steps=1, **over), demo_ws).yaml_config, 19)

    lora, full = est(), est(finetuning_type="full")
    assert lora.params == full.params == 172160  # the demo model's safetensors header
    assert lora.trainable < full.trainable == full.params and lora.total < full.total
    assert full.optimizer == 8 * full.params and est(finetuning_type="full", save_only_model=True).optimizer == 0
    assert lora.saves == lora.kept == 6  # ceil(19 / (2 x 8)) x 3 epochs, one save per step
    limited = est(save_total_limit=2)
    assert limited.kept == 3 and limited.total < lora.total  # the newest is written before the oldest goes
    assert est(save_strategy="no").kept == 0
