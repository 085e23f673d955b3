"""The memory estimator against published measurements, DeepSpeed's own formulas and its own logic.

The published tables are cited in docs/memory-estimate.md; each row is a measured peak of a real
model and method with the settings written next to it. The estimate must land within +-25 %.
"""

from __future__ import annotations

import json

import pytest

from medtui.core.errors import MedtuiError
from medtui.core.estimate import GpuFacts, estimate_config
from medtui.core.estimate.memory import GiB, estimate_memory
from medtui.core.estimate.settings import settings_from_config
from medtui.core.estimate.shape import load_shape, shape_from_config

# -- model configs (the fields of each model's public config.json that the estimator reads) -----
LLAMA2_7B = dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_attention_heads=32,
                 num_hidden_layers=32, num_key_value_heads=32, vocab_size=32000, tie_word_embeddings=False)


def qwen1(hidden, inter, heads, layers, vocab):
    return dict(model_type="qwen", hidden_size=hidden, intermediate_size=inter, num_attention_heads=heads,
                num_hidden_layers=layers, vocab_size=vocab, kv_channels=128, tie_word_embeddings=False)


QWEN_1_8B = qwen1(2048, 11008, 16, 24, 151936)
QWEN_7B = qwen1(4096, 22016, 32, 32, 151936)
QWEN_14B = qwen1(5120, 27392, 40, 40, 152064)
QWEN_72B = qwen1(8192, 49152, 64, 80, 152064)
LLAMA3_8B = dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_attention_heads=32,
                 num_hidden_layers=32, num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False)
MIXTRAL_8X7B = dict(model_type="mixtral", hidden_size=4096, intermediate_size=14336, num_attention_heads=32,
                    num_hidden_layers=32, num_key_value_heads=8, vocab_size=32000, num_local_experts=8,
                    num_experts_per_tok=2, tie_word_embeddings=False)
QWEN15_MOE = dict(model_type="qwen2_moe", hidden_size=2048, intermediate_size=5632, moe_intermediate_size=1408,
                  shared_expert_intermediate_size=5632, num_experts=60, num_experts_per_tok=4,
                  num_attention_heads=16, num_key_value_heads=16, num_hidden_layers=24, vocab_size=151936,
                  tie_word_embeddings=False)

# Qwen (v1) README "Profiling of Memory and Speed": one A100-80G, FlashAttention-2, batch size 1,
# gradient checkpointing, bf16, LoRA r=64 on c_attn,c_proj,w1,w2; sequences padded to the length.
QWEN_LORA = dict(finetuning_type="lora", lora_rank=64, lora_target="c_attn,c_proj,w1,w2",
                 per_device_train_batch_size=1, flash_attn="fa2", bf16=True)
# Its Q-LoRA rows: GPTQ Int4 base model, fp16 through DeepSpeed ZeRO-2; full: ZeRO-2, Adam, bf16.
QWEN_QLORA = dict(QWEN_LORA, quantization_bit=4, deepspeed_stage=2)
QWEN_FULL = dict(finetuning_type="full", per_device_train_batch_size=1, flash_attn="fa2", deepspeed_stage=2)
# LLaMA-Factory wiki "Performance comparison": one A100-40G, LLaMA2-7B, batch 1, LoRA rank 8 on all
# linear modules, 4-bit (bitsandbytes), FlashAttention-2, LLaMA-Factory's default gradient checkpointing.
LF_QLORA = dict(finetuning_type="lora", quantization_bit=4, lora_rank=8, lora_target="all",
                per_device_train_batch_size=1, flash_attn="fa2")

PUBLISHED = [
    # (pair, model config, settings, {sequence length: measured GiB})
    ("Llama-2-7B QLoRA-4bit (LLaMA-Factory wiki)", LLAMA2_7B, LF_QLORA,
     {1024: 6, 2048: 7, 4096: 9, 8192: 12, 16384: 19, 32768: 32}),
    ("Qwen-7B LoRA (Qwen README)", QWEN_7B, QWEN_LORA,
     {256: 20.1, 512: 20.4, 1024: 21.5, 2048: 23.8, 4096: 29.7, 8192: 36.6}),
    ("Qwen-14B LoRA (Qwen README)", QWEN_14B, QWEN_LORA,
     {256: 34.6, 512: 35.1, 1024: 35.3, 2048: 37.4, 4096: 42.5, 8192: 55.2}),
    ("Qwen-1.8B LoRA (Qwen README)", QWEN_1_8B, QWEN_LORA,
     {256: 6.7, 512: 7.4, 1024: 8.4, 2048: 11.0, 4096: 16.2, 8192: 21.8}),
    ("Qwen-1.8B full, ZeRO-2 (Qwen README)", QWEN_1_8B, QWEN_FULL,
     {256: 43.5, 512: 43.5, 1024: 43.5, 2048: 43.5, 4096: 47.1, 8192: 48.3}),
    ("Qwen-7B Q-LoRA (Qwen README)", QWEN_7B, QWEN_QLORA,
     {256: 11.5, 512: 11.5, 1024: 12.3, 2048: 13.9, 4096: 16.9, 8192: 23.5}),
    ("Qwen-14B Q-LoRA (Qwen README)", QWEN_14B, QWEN_QLORA,
     {256: 18.7, 512: 18.4, 1024: 18.9, 2048: 19.9, 4096: 23.0, 8192: 27.9}),
    ("Qwen-72B Q-LoRA (Qwen README)", QWEN_72B, QWEN_QLORA,
     {256: 61.4, 512: 61.4, 1024: 62.9, 2048: 64.1, 4096: 68.0, 8192: 75.6}),
]


def _estimate(model: dict, settings: dict, **extra) -> int:
    shape = shape_from_config(model)
    return estimate_memory(shape, settings_from_config({**settings, **extra})).per_gpu_bytes


@pytest.mark.parametrize("pair,model,settings,table", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_within_25_percent_of_published_measurements(pair, model, settings, table):
    for seq, measured_gib in table.items():
        ratio = _estimate(model, settings, cutoff_len=seq) / GiB / measured_gib
        assert 0.75 <= ratio <= 1.25, f"{pair} at {seq} tokens: estimate/measured = {ratio:.2f}"


def test_published_pairs_cover_four_model_method_pairs():
    methods = {(p[1]["hidden_size"], p[2]["finetuning_type"], p[2].get("quantization_bit")) for p in PUBLISHED}
    assert len(methods) >= 4
    assert {m[1] for m in methods} >= {"lora", "full"} and any(m[2] == 4 for m in methods)


# -- shapes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,expected_billions", [
    (LLAMA2_7B, 6.74), (LLAMA3_8B, 8.03), (QWEN_7B, 7.72), (QWEN_14B, 14.17), (MIXTRAL_8X7B, 46.70),
    (QWEN15_MOE, 14.32),
])
def test_parameter_counts_match_the_models_published_sizes(model, expected_billions):
    assert shape_from_config(model).total_params / 1e9 == pytest.approx(expected_billions, rel=0.01)


def test_moe_counts_only_routed_experts_as_active():
    shape = shape_from_config(MIXTRAL_8X7B)
    assert shape.active_params_per_token() / 1e9 == pytest.approx(12.9, rel=0.03)  # "12.9B active"


def test_composite_models_use_the_language_models_config():
    vl = {"model_type": "qwen2_vl", "text_config": dict(LLAMA2_7B, model_type="qwen2")}
    assert shape_from_config(vl).total_params == shape_from_config(LLAMA2_7B).total_params


def test_config_json_problems_are_clear(tmp_path):
    with pytest.raises(MedtuiError, match="no config.json"):
        load_shape(tmp_path)
    (tmp_path / "config.json").write_text("{bad", encoding="utf-8")
    with pytest.raises(MedtuiError, match="invalid JSON at line 1"):
        load_shape(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "x"}), encoding="utf-8")
    with pytest.raises(MedtuiError, match="lacks hidden_size"):
        load_shape(tmp_path)
    with pytest.raises(MedtuiError, match="model folder not found"):
        load_shape(tmp_path / "nope")


# -- model states against DeepSpeed's estimators and the ZeRO paper -----------------------------------
def _states(model: dict, **settings) -> int:
    est = estimate_memory(shape_from_config(model), settings_from_config(settings))
    return est.breakdown["weights"] + est.breakdown["gradients"] + est.breakdown["optimizer"]


@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_zero_model_states_follow_deepspeeds_formulas(gpus):
    shape = shape_from_config(LLAMA2_7B)
    p, largest = shape.total_params, shape.largest_layer_params
    full = dict(finetuning_type="full", nproc_per_node=gpus)
    # estimate_zero2_model_states_mem_needs: 4P + 16P/N; with offload 2P on the GPU
    assert _states(LLAMA2_7B, **full, deepspeed_stage=2) == pytest.approx(4 * p + 16 * p / gpus, rel=1e-6)
    assert _states(LLAMA2_7B, **full, deepspeed_stage=2, deepspeed_offload=True) == pytest.approx(2 * p, rel=1e-6)
    # estimate_zero3_model_states_mem_needs: 4 * largest_layer + 18P/N; with offload 4 * largest_layer
    assert _states(LLAMA2_7B, **full, deepspeed_stage=3) == pytest.approx(4 * largest + 18 * p / gpus, rel=1e-6)
    assert _states(LLAMA2_7B, **full, deepspeed_stage=3, deepspeed_offload=True) == pytest.approx(4 * largest)
    offloaded = estimate_memory(shape, settings_from_config({**full, "deepspeed_stage": 3, "deepspeed_offload": True}))
    assert offloaded.cpu_bytes == pytest.approx(18 * p * 1.5, rel=1e-6)  # zero_init, buffer factor 1.5


def test_mixed_precision_adam_costs_16_bytes_and_pure_bf16_8():
    p = shape_from_config(LLAMA2_7B).total_params
    assert _states(LLAMA2_7B, finetuning_type="full", bf16=True) == 16 * p
    assert _states(LLAMA2_7B, finetuning_type="full", pure_bf16=True) == 8 * p
    assert _states(LLAMA2_7B, finetuning_type="full", pure_bf16=True, optim="adamw_8bit") == 6 * p


def test_ddp_replicates_the_model_and_zero3_shards_it():
    one = _estimate(LLAMA2_7B, dict(finetuning_type="full", nproc_per_node=1))
    four = estimate_memory(shape_from_config(LLAMA2_7B), settings_from_config(dict(finetuning_type="full",
                                                                                   nproc_per_node=4)))
    assert four.per_gpu_bytes >= one  # no split, plus DDP's gradient buckets
    assert any("every one of the 4 GPUs holds the whole model" in n for n in four.notes)
    z3 = [_estimate(LLAMA2_7B, dict(finetuning_type="full", deepspeed_stage=3, nproc_per_node=n)) for n in (1, 2, 8)]
    assert z3[0] > z3[1] > z3[2]


def test_lora_trainable_parameters_follow_rank_and_targets():
    shape = shape_from_config(LLAMA2_7B)
    qv = settings_from_config(dict(finetuning_type="lora", lora_rank=8, lora_target="q_proj,v_proj"))
    est = estimate_memory(shape, qv)
    assert est.trainable_params == 32 * 2 * 8 * (4096 + 4096)  # 4.19M, as peft prints for Llama-2-7B
    with_head = estimate_memory(shape, settings_from_config(dict(finetuning_type="lora", lora_target="q_proj",
                                                                 additional_target="embed_tokens,lm_head")))
    assert with_head.trainable_params > 2 * 32000 * 4096


def test_method_ordering_and_activation_switches():
    base = dict(cutoff_len=4096, per_device_train_batch_size=2)
    full = _estimate(LLAMA3_8B, dict(base, finetuning_type="full"))
    freeze = _estimate(LLAMA3_8B, dict(base, finetuning_type="freeze"))
    lora = _estimate(LLAMA3_8B, dict(base, finetuning_type="lora"))
    qlora8 = _estimate(LLAMA3_8B, dict(base, finetuning_type="lora", quantization_bit=8))
    qlora4 = _estimate(LLAMA3_8B, dict(base, finetuning_type="lora", quantization_bit=4))
    assert full > freeze > lora > qlora8 > qlora4
    no_gc = _estimate(LLAMA3_8B, dict(base, disable_gradient_checkpointing=True))
    eager = _estimate(LLAMA3_8B, dict(base, flash_attn="disabled"))
    assert no_gc > lora and eager > lora
    assert _estimate(LLAMA3_8B, dict(base, enable_liger_kernel=True)) < lora
    assert _estimate(LLAMA3_8B, dict(base, stage="dpo")) > lora  # chosen + rejected
    assert _estimate(LLAMA3_8B, dict(base, finetuning_type="full", pure_bf16=True, use_galore=True)) < \
        _estimate(LLAMA3_8B, dict(base, finetuning_type="full", pure_bf16=True))
    assert _estimate(LLAMA3_8B, dict(base, finetuning_type="full", pure_bf16=True, use_apollo=True)) < \
        _estimate(LLAMA3_8B, dict(base, finetuning_type="full", pure_bf16=True))
    assert _estimate(LLAMA3_8B, dict(base, finetuning_type="full", use_badam=True)) < full
    assert _estimate(LLAMA3_8B, dict(base, finetuning_type="full", optim="adafactor")) < full


def test_packing_and_batch_scale_activations():
    small = _estimate(LLAMA3_8B, dict(cutoff_len=1024, per_device_train_batch_size=1))
    bigger = _estimate(LLAMA3_8B, dict(cutoff_len=1024, per_device_train_batch_size=4))
    longer = _estimate(LLAMA3_8B, dict(cutoff_len=4096, per_device_train_batch_size=1))
    assert bigger > small and longer > small
    assert settings_from_config({"stage": "pt"}).packing and not settings_from_config({"stage": "sft"}).packing


def test_deepspeed_json_named_in_the_yaml_is_read(tmp_path):
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 3, "offload_param": {"device": "cpu"}}}))
    s = settings_from_config({"deepspeed": str(ds)})
    assert (s.zero, s.offload) == (3, True)


# -- fits, fixes and the JSON shape ------------------------------------------------------------------------
@pytest.fixture
def llama_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA3_8B), encoding="utf-8")
    return tmp_path


def test_fixes_are_ordered_and_each_re_estimated(llama_dir):
    config = {"model_name_or_path": str(llama_dir), "finetuning_type": "full", "cutoff_len": 4096,
              "per_device_train_batch_size": 4, "disable_gradient_checkpointing": True}
    est = estimate_config(config, facts=GpuFacts((int(80 * GiB),), "NVIDIA A100-SXM4-80GB", "nvml"))
    assert est.fits is False
    out = est.as_json()
    assert set(out) >= {"per_gpu_bytes", "breakdown", "cpu_bytes", "fits", "fixes"}
    assert out["fits"] is False and out["per_gpu_bytes"] == sum(out["breakdown"].values())
    assert all(set(f) == {"change", "per_gpu_bytes"} for f in out["fixes"])
    changes = [list(f["change"]) for f in out["fixes"]]
    keys = [k for c in changes for k in c]
    assert keys.index("disable_gradient_checkpointing") < keys.index("finetuning_type")  # lossless first
    assert keys.index("per_device_train_batch_size") < keys.index("quantization_bit")
    for fix in out["fixes"]:
        again = estimate_config({**config, **fix["change"]}, facts=est.gpus, with_fixes=False)
        assert again.per_gpu_bytes == fix["per_gpu_bytes"] < est.per_gpu_bytes
    assert any(f.fits for f in est.fixes)


def test_fits_is_null_without_a_gpu(llama_dir):
    est = estimate_config({"model_name_or_path": str(llama_dir)}, snapshot=lambda: type("S", (), {"gpus": []})())
    assert est.fits is None and est.as_json()["fits"] is None
    assert "no GPU visible" in "\n".join(est.lines())


def test_time_and_disk_join_once_a_gpu_is_known(llama_dir):
    config = {"model_name_or_path": str(llama_dir), "save_steps": 10, "num_train_epochs": 1}
    est = estimate_config(config, records=1000, facts=GpuFacts((int(80 * GiB),), "NVIDIA H100 80GB HBM3", "nvml"))
    assert est.schedule.steps_per_epoch == 63 and est.schedule.checkpoints == 6
    assert est.schedule.seconds_per_epoch and est.schedule.disk_bytes > 0
    text = "\n".join(est.lines())
    assert "time per epoch" in text and "disk:" in text
    unknown = estimate_config(config, records=1000, gpu_memory_gib=80)
    assert unknown.schedule.seconds_per_epoch is None


def test_the_estimators_defaults_are_the_specs():
    from medtui.core.estimate.settings import DEFAULTS
    from medtui.core.stages.spec import ARG_BY_NAME

    assert {k: ARG_BY_NAME[k].default for k in DEFAULTS} == DEFAULTS
